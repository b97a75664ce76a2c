"""Training methods: what one iteration computes. The engine owns the loop; a method owns the maths.

A method exposes `losses(batch, epoch) -> dict[str, Tensor]`, `param_groups(phase_cfg) -> list[dict]` and
`modules() -> dict[str, nn.Module]` (everything it trains, saved by name in checkpoints).
"""

"""Training methods: what one iteration computes. The engine owns the loop; a method owns the maths.

A method exposes `losses(batch, epoch) -> dict[str, Tensor]`, `param_groups(phase_cfg) -> list[dict]` and
`modules() -> dict[str, nn.Module]` (everything it trains, saved by name in checkpoints). Each module of this
package registers its builders in `METHODS` (`registry.py`) under the `method.name` of their configs; what a
method decides about the rest of the run (labels, classes, recipe, initialisation) is in its config
(`wilss.spec.StepRecipe`). Adding a method: a module here (listed in `_builtin`) plus a
`wilss/configs/method/<name>.yaml`, or a `wilss.methods` entry point of your own package (docs/design.md).
"""

from __future__ import annotations

from wilss.methods.registry import METHODS, MethodContext

__all__ = ["METHODS", "MethodContext"]


@METHODS.builtin
def _builtin() -> None:
    from wilss.methods import supervised, wilson  # noqa: F401 (they register)

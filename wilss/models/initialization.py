"""How a backbone's convolutions start when it is trained without ImageNet weights (`model.init`).

- `he_fan_out` (default): He-normal for leaky-ReLU(0.01) units, scaled by fan-out, the usual start of a ResNet
  trained from scratch. The kit's recipes for random bodies (the demo's learning rates, the synthetic benchmark)
  were chosen with it, so it stays the default.
- `torch_default`: the weights `nn.Conv2d` draws itself (Kaiming-uniform with a = √5, i.e. U(±1/√fan_in)), which
  the original code keeps because its backbones have no initialisation of their own; `mode=reference` selects it.
  Per layer its weight scale is 0.2–1.9 × He's.

Bodies loaded from ImageNet weights are overwritten anyway; the head (Xavier) and classifiers are not affected.
"""

from __future__ import annotations

from torch import nn


def init_body(body: nn.Module, scheme: str) -> None:
    """Initialise every conv of `body` with `scheme` (the names are checked with the config: `BodyInit` in
    wilss/schema.py)."""
    if scheme == "torch_default":
        return  # as constructed
    if scheme != "he_fan_out":
        raise ValueError(f"unknown body initialisation {scheme!r}")
    for module in body.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, a=0.01, mode="fan_out", nonlinearity="leaky_relu")

"""WILSON's localizer (docs/method.md, "Model"): an auxiliary classifier on the new model's body features."""

from __future__ import annotations

from torch import nn

from wilss.models.norm import NormAct


def build_localizer(in_channels: int, num_classes: int, norm_act: NormAct, hidden: int = 256) -> nn.Sequential:
    """conv 3×3 → norm → conv 3×3 → norm → conv 1×1 to every seen class (background included)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False),
        norm_act(hidden),
        nn.Conv2d(hidden, hidden, 3, padding=1, bias=False),
        norm_act(hidden),
        nn.Conv2d(hidden, num_classes, 1),
    )

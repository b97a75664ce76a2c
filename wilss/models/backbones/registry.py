"""The backbone registry and what a builder gets, in a module of their own: the built-in backbones import them,
and the package's `__init__` imports the built-in backbones, so neither imports the other back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol


from wilss.models.norm import NormAct
from wilss.registry import Registry


@dataclass(frozen=True)
class BackboneOptions:
    """The `model.*` settings a backbone builder reads."""

    name: str                        # model.backbone
    norm_act: NormAct                # the norm + activation layer the wilss bodies use (model.norm, sync_bn)
    output_stride: int = 16          # model.output_stride
    sync_bn: bool = False            # batch statistics over all ranks (model.sync_bn, several processes)
    init: str = "he_fan_out"          # model.init: how the wilss bodies' convs start without pretrained weights
    pretrained: str | None = None    # model.pretrained, None when this step does not start from it
    pretrained_md5: str | None = None
    pretrained_trusted: bool = False
    extra: Mapping = field(default_factory=dict)  # model.options: what only this backbone family reads


class Backbone(Protocol):
    """What the DeepLab-V3 head reads of a built body (checked when it is built); the body is an nn.Module whose
    forward maps (B, 3, H, W) to its last features (B, out_channels, H / output_stride, W / output_stride)."""

    out_channels: int
    output_stride: int

    def forward(self, images): ...


BACKBONES: Registry[Callable[[BackboneOptions], Backbone]] = Registry(
    "backbone", __package__, "model.backbone", group="wilss.backbones", contract=Backbone)

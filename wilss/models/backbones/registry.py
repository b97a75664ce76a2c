"""The backbone registry and what a builder gets, in a module of their own: the built-in backbones import them,
and the package's `__init__` imports the built-in backbones, so neither imports the other back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torch import nn

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


BACKBONES: Registry[Callable[[BackboneOptions], nn.Module]] = Registry(
    "backbone", __package__, "model.backbone", group="wilss.backbones")

"""Backbones by name (`model.backbone`): each module of this package registers builders in `BACKBONES`.

A builder takes `BackboneOptions` and returns the body: an `nn.Module` mapping images (B, 3, H, W) to features
(B, C, H / s, W / s), with attributes `out_channels` (C) and `output_stride` (s), which the DeepLab-V3 head and
WILSON's localizer read. It loads its own pretrained weights (`options.pretrained`), since every family stores
them differently. Adding a backbone: a module here (listed in `_builtin`) plus a `wilss/configs/model/<name>.yaml`,
or a `wilss.backbones` entry point of your own package (docs/design.md).
"""

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


def _builtin() -> None:
    from wilss.models.backbones import resnet, timm_resnet, timm_vit, wide_resnet  # noqa: F401 (they register)


BACKBONES: Registry[Callable[[BackboneOptions], nn.Module]] = Registry(
    "backbone", __name__, "model.backbone", group="wilss.backbones", builtin=_builtin)

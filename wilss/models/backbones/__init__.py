"""Backbones by name (`model.backbone`): each module of this package registers builders in `BACKBONES`
(`registry.py`).

A builder takes `BackboneOptions` and returns the body: an `nn.Module` mapping images (B, 3, H, W) to features
(B, C, H / s, W / s), with attributes `out_channels` (C) and `output_stride` (s), which the DeepLab-V3 head and
WILSON's localizer read. It loads its own pretrained weights (`options.pretrained`), since every family stores
them differently. Adding a backbone: a module here (listed in `_builtin`) plus a `wilss/configs/model/<name>.yaml`,
or a `wilss.backbones` entry point of your own package (docs/design.md).
"""

from __future__ import annotations

from wilss.models.backbones.registry import BACKBONES, BackboneOptions

__all__ = ["BACKBONES", "BackboneOptions"]


@BACKBONES.builtin
def _builtin() -> None:
    from wilss.models.backbones import resnet, timm_resnet, timm_vit, wide_resnet  # noqa: F401 (they register)

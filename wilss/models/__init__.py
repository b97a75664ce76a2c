"""Segmentation models: backbone body + DeepLab-V3 head + incremental classifier (docs/method.md, "Model")."""

from __future__ import annotations

from collections.abc import Mapping

from wilss.models.backbones import BACKBONES, BackboneOptions
from wilss.models.deeplab import DeeplabV3
from wilss.models.norm import ABN, build_norm
from wilss.models.pretrained import load_imagenet_weights
from wilss.models.segmentation import IncrementalSegmentationModel

__all__ = [
    "ABN", "BACKBONES", "IncrementalSegmentationModel", "build_model", "build_norm",
    "load_imagenet_weights",
]


def build_model(
    backbone: str,
    classes_per_step: list[int],
    output_stride: int = 16,
    norm: str = "native",
    sync_bn: bool = False,
    pretrained: str | None = None,
    pooling_size: int | None = None,
    pretrained_md5: str | None = None,
    pretrained_trusted: bool = False,
    trim_padding_taps: bool = False,
    options: Mapping | None = None,
    init: str = "he_fan_out",
) -> IncrementalSegmentationModel:
    """Build the model of `model.*` (wilss/configs/model/*.yaml); with `pretrained`, the body gets its pretrained
    weights first. The body comes from the backbone registry (`wilss.models.backbones`); `options` is
    `model.options`, the settings only that backbone reads.

    `pooling_size`: eval-mode pooling window of the head in feature pixels (crop_size // output_stride); None = global.
    `trim_padding_taps`: the head's atrous convs skip the taps that only see padding (`wilss.models.atrous`).
    `init`: how the body's convs start before any ImageNet weights (`wilss.models.initialization`).
    With `norm="inplace_abn"` and `sync_bn`, call this after `init_process_group` (see `build_norm`).
    """
    norm_act = build_norm(norm, sync_bn)
    body = BACKBONES.build(backbone, BackboneOptions(
        backbone, norm_act, output_stride, sync_bn, init, pretrained, pretrained_md5, pretrained_trusted,
        dict(options or {})))
    head = DeeplabV3(body.out_channels, norm_act, body.output_stride, pooling_size=pooling_size,
                     trim_padding_taps=trim_padding_taps)
    return IncrementalSegmentationModel(body, head, classes_per_step)

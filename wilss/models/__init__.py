"""Segmentation models: backbone body + DeepLab-V3 head + incremental classifier (reference §2)."""

from __future__ import annotations

import warnings

from wilss.errors import WilssError
from wilss.models.deeplab import DeeplabV3
from wilss.models.initialization import init_body
from wilss.models.norm import ABN, build_norm
from wilss.models.pretrained import KNOWN_IMAGENET_WEIGHTS, load_imagenet_weights
from wilss.models.resnet import RESNET_SPECS, STAGE_DILATIONS, ResNet
from wilss.models.segmentation import IncrementalSegmentationModel
from wilss.models.wide_resnet import WiderResNetA2

BACKBONES = ("resnet18", "resnet50", "resnet101", "wideresnet38")

__all__ = [
    "ABN", "BACKBONES", "KNOWN_IMAGENET_WEIGHTS", "IncrementalSegmentationModel", "build_model", "build_norm",
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
    init: str = "he_fan_out",
) -> IncrementalSegmentationModel:
    """Build the model of `model.*` (wilss/configs/model/*.yaml); with `pretrained`, the body gets ImageNet weights first.

    `pooling_size`: eval-mode pooling window of the head in feature pixels (crop_size // output_stride); None = global.
    `trim_padding_taps`: the head's atrous convs skip the taps that only see padding (`wilss.models.atrous`).
    `init`: how the body's convs start before any ImageNet weights (`wilss.models.initialization`).
    With `norm="inplace_abn"` and `sync_bn`, call this after `init_process_group` (see `build_norm`).
    """
    norm_act = build_norm(norm, sync_bn)
    if backbone == "wideresnet38":
        if output_stride != 8:
            warnings.warn(f"model.output_stride={output_stride} ignored: wideresnet38 always runs at output stride 8",
                          stacklevel=2)
        output_stride = 8
        body = WiderResNetA2(norm_act)
    elif backbone in RESNET_SPECS:
        if output_stride not in STAGE_DILATIONS:
            raise WilssError(f"model.output_stride={output_stride} is not supported for {backbone}; valid: "
                             f"{', '.join(map(str, sorted(STAGE_DILATIONS)))}.")
        body = ResNet(backbone, norm_act, output_stride)
    else:
        raise WilssError(f"model.backbone={backbone!r} is not a known backbone; valid: {', '.join(BACKBONES)}.")
    init_body(body, init)
    if pretrained is not None:
        load_imagenet_weights(body, pretrained, pretrained_md5, trusted=pretrained_trusted)
    head = DeeplabV3(body.out_channels, norm_act, output_stride, pooling_size=pooling_size,
                     trim_padding_taps=trim_padding_taps)
    return IncrementalSegmentationModel(body, head, classes_per_step)

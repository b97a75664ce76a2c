"""ResNets of the `timm` library (`pip install 'wilss[timm]'`), as DeepLab-V3 bodies: the last feature map of
`features_only` at a dilated output stride (8, 16 or 32). `model.options.timm_model` names the timm model
(resnet18, resnet50, resnet101d, ...); its own norm layer (batch norm) is used, converted to synchronised batch
norm under DDP with `model.sync_bn`.

`model.pretrained=PATH` loads a local timm checkpoint of that model (a state dict saved from
`timm.create_model(name, pretrained=True)`, .pth or .safetensors): nothing is downloaded."""

from __future__ import annotations

import torch
from torch import nn

from wilss.models.backbones.registry import BACKBONES, BackboneOptions
from wilss.models.backbones.timm_common import create_timm_model


class LastFeatures(nn.Module):
    """A timm `features_only` model reduced to its last (deepest) feature map."""

    def __init__(self, features: nn.Module, output_stride: int) -> None:
        super().__init__()
        self.features = features
        self.out_channels = features.feature_info.channels()[-1]
        self.output_stride = output_stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[-1]


@BACKBONES.register("timm_resnet")
def build_timm_resnet(options: BackboneOptions) -> LastFeatures:
    features = create_timm_model(options, features_only=True, out_indices=(-1,),
                                 output_stride=options.output_stride)
    if options.sync_bn:
        features = nn.SyncBatchNorm.convert_sync_batchnorm(features)
    return LastFeatures(features, options.output_stride)

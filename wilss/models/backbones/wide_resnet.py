"""WideResNet-38-A2 (`wilss.models.wide_resnet`), always at output stride 8, with its ImageNet weights."""

from __future__ import annotations

import warnings

from wilss.models.backbones.registry import BACKBONES, BackboneOptions
from wilss.models.initialization import init_body
from wilss.models.pretrained import load_imagenet_weights
from wilss.models.wide_resnet import WiderResNetA2


@BACKBONES.register("wideresnet38")
def build_wide_resnet(options: BackboneOptions) -> WiderResNetA2:
    if options.output_stride != 8:
        warnings.warn(f"model.output_stride={options.output_stride} ignored: wideresnet38 always runs at output "
                      "stride 8", stacklevel=3)
    body = WiderResNetA2(options.norm_act)
    init_body(body, options.init)
    if options.pretrained is not None:
        load_imagenet_weights(body, options.pretrained, options.pretrained_md5, trusted=options.pretrained_trusted)
    return body

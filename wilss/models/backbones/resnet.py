"""ResNet-18/50/101 in the InPlace-ABN model zoo's layout (`wilss.models.resnet`), with its ImageNet weights."""

from __future__ import annotations

from wilss.errors import WilssError
from wilss.models.backbones.registry import BACKBONES, BackboneOptions
from wilss.models.initialization import init_body
from wilss.models.pretrained import load_imagenet_weights
from wilss.models.resnet import RESNET_SPECS, STAGE_DILATIONS, ResNet


@BACKBONES.register(*RESNET_SPECS)
def build_resnet(options: BackboneOptions) -> ResNet:
    if options.output_stride not in STAGE_DILATIONS:
        raise WilssError(f"model.output_stride={options.output_stride} is not supported for {options.name}; valid: "
                         f"{', '.join(map(str, sorted(STAGE_DILATIONS)))}.")
    body = ResNet(options.name, options.norm_act, options.output_stride)
    init_body(body, options.init)
    if options.pretrained is not None:
        load_imagenet_weights(body, options.pretrained, options.pretrained_md5, trusted=options.pretrained_trusted)
    return body

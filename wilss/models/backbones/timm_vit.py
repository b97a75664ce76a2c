"""Vision transformers of the `timm` library (`pip install 'wilss[timm]'`) as DeepLab-V3 bodies: ViT, DeiT and
DINOv2-style models (`model.options.timm_model`, e.g. vit_small_patch14_dinov2, vit_base_patch16_224). The
patch tokens of the last block, after the final norm, are laid out as a feature map (B, C, H / p, W / p), so
the output stride is the patch size p; any image size that p divides works (`dynamic_img_size`).

`model.pretrained=PATH` loads a local timm checkpoint of that model (nothing is downloaded); its position
embeddings are resampled to `model.options.img_size`."""

from __future__ import annotations

import torch
from torch import nn

from wilss.errors import WilssError
from wilss.models.backbones.registry import BACKBONES, BackboneOptions
from wilss.models.backbones.timm_common import create_timm_model


class PatchFeatures(nn.Module):
    """A timm ViT whose last block's patch tokens form the feature map."""

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.vit = vit
        self.out_channels = vit.embed_dim
        self.output_stride = vit.patch_embed.patch_size[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vit.forward_intermediates(x, indices=1, norm=True, output_fmt="NCHW", intermediates_only=True)[-1]


@BACKBONES.register("timm_vit")
def build_timm_vit(options: BackboneOptions) -> PatchFeatures:
    vit = create_timm_model(options, num_classes=0, dynamic_img_size=True, img_size=options.extra.get("img_size", 224))
    body = PatchFeatures(vit)
    if body.output_stride != options.output_stride:
        raise WilssError(f"model.output_stride={options.output_stride}, but {options.extra['timm_model']} has patches "
                         f"of {body.output_stride} pixels: set model.output_stride={body.output_stride}.")
    return body

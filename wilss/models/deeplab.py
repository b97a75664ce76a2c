"""DeepLab-V3 head as in WILSON (docs/method.md, "Model"); module names are the original's so its checkpoints load by name."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wilss.models.atrous import AtrousConv2d
from wilss.models.norm import NormAct

# output stride -> dilations of the three 3×3 branches ((12, 24, 32) at OS 8 as in the original, not 36)
HEAD_DILATIONS: dict[int, tuple[int, int, int]] = {32: (3, 6, 9), 16: (6, 12, 18), 8: (12, 24, 32)}


def head_dilations(output_stride: int) -> tuple[int, int, int]:
    """The table's dilations; other strides (a ViT with 14-pixel patches) keep the same reach in input pixels,
    about 96, 192 and 288 as at stride 16."""
    if output_stride in HEAD_DILATIONS:
        return HEAD_DILATIONS[output_stride]
    base = max(1, round(96 / output_stride))
    return base, 2 * base, 3 * base


class DeeplabV3(nn.Module):
    """ASPP (1×1 + three dilated 3×3) → norm → 1×1, plus an image-pooling branch that is *added*, then a final norm.

    `pooling_size`: eval-mode pooling window in feature pixels (crop // output_stride, clipped to the feature size);
    None = always global pooling. In training the pooling is always global. `trim_padding_taps`: see
    `wilss.models.atrous`.
    """

    def __init__(self, in_channels: int, norm_act: NormAct, output_stride: int = 16, hidden_channels: int = 256,
                 out_channels: int = 256, pooling_size: int | None = None, trim_padding_taps: bool = False) -> None:
        super().__init__()
        self.pooling_size = pooling_size
        self.out_channels = out_channels
        self.map_convs = nn.ModuleList(
            [nn.Conv2d(in_channels, hidden_channels, 1, bias=False)]
            + [AtrousConv2d(in_channels, hidden_channels, 3, padding=d, dilation=d, bias=False,
                            trim_padding_taps=trim_padding_taps) for d in head_dilations(output_stride)]
        )
        self.map_bn = norm_act(hidden_channels * 4)
        self.global_pooling_conv = nn.Conv2d(in_channels, hidden_channels, 1, bias=False)
        self.global_pooling_bn = norm_act(hidden_channels)
        self.red_conv = nn.Conv2d(hidden_channels * 4, out_channels, 1, bias=False)
        self.pool_red_conv = nn.Conv2d(hidden_channels, out_channels, 1, bias=False)
        self.red_bn = norm_act(out_channels)
        gain = nn.init.calculate_gain("leaky_relu", 0.01)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight, gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([conv(x) for conv in self.map_convs], dim=1)
        out = self.red_conv(self.map_bn(out))
        pool = self.pool_red_conv(self.global_pooling_bn(self.global_pooling_conv(self._pool(x))))
        return self.red_bn(out + pool)  # a 1×1 pool broadcasts over the feature map

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.pooling_size is None:
            return x.mean(dim=(2, 3), keepdim=True)
        # Eval: sliding local average (window clipped to the map), replicate-padded back to the feature size. Differs
        # from global pooling when features are larger than the window, e.g. COCO-to-VOC eval at 512 with 448 crops.
        kh, kw = min(self.pooling_size, x.shape[2]), min(self.pooling_size, x.shape[3])
        pool = F.avg_pool2d(x, (kh, kw), stride=1)
        # total padding k − 1 per axis; the extra pixel of an even window goes right / bottom
        pad = ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2)
        return F.pad(pool, pad, mode="replicate")

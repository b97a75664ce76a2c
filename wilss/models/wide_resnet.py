"""WiderResNet-38-A2 body (reference §2.3) with the mapillary inplace_abn model-zoo layout and key names, so
`wide_resnet38_ipabn_lr_256.pth.tar` and WILSON COCO-to-VOC checkpoints load by name. Always output stride 8.

Layout: `mod1.conv1`, `pool2`, `mod2`, `pool3`, `mod3`..`mod7` (sequences `block1..blockN` of pre-activation
`IdentityResidualBlock`s with `bn1`, `convs.{conv1,bn2,conv2[,bn3,conv3]}`, `proj_conv`), final `bn_out`.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from wilss.models.norm import ABN, NormAct

STRUCTURE = (3, 3, 6, 3, 1, 1)  # blocks in mod2..mod7
CHANNELS = ((128, 128), (256, 256), (512, 512), (512, 1024), (512, 1024, 2048), (1024, 2048, 4096))
STRIDES = (1, 1, 2, 1, 1, 1)  # of the first block; mod2/mod3 are preceded by a max-pool instead
DILATIONS = (1, 1, 1, 2, 4, 4)
DROPOUT = (0.0, 0.0, 0.0, 0.0, 0.3, 0.5)  # Dropout2d inside the blocks of mod6 / mod7, active in training


class IdentityResidualBlock(nn.Module):
    """Pre-activation block: norm+act (`bn1`) → convs (norm+act between convs) + shortcut, no activation after the sum.

    The shortcut is the raw input, or `proj_conv` of the pre-activated input when the shape changes.
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...], norm_act: NormAct, stride: int = 1,
                 dilation: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = norm_act(in_channels)
        if len(channels) == 2:
            layers = [
                ("conv1", nn.Conv2d(in_channels, channels[0], 3, stride, dilation, dilation, bias=False)),
                ("bn2", norm_act(channels[0])),
                ("conv2", nn.Conv2d(channels[0], channels[1], 3, 1, dilation, dilation, bias=False)),
            ]
        else:
            layers = [
                ("conv1", nn.Conv2d(in_channels, channels[0], 1, stride, bias=False)),
                ("bn2", norm_act(channels[0])),
                ("conv2", nn.Conv2d(channels[0], channels[1], 3, 1, dilation, dilation, bias=False)),
                ("bn3", norm_act(channels[1])),
                ("conv3", nn.Conv2d(channels[1], channels[2], 1, bias=False)),
            ]
        if dropout > 0:
            layers.insert(len(layers) - 1, ("dropout", nn.Dropout2d(dropout)))
        self.convs = nn.Sequential(OrderedDict(layers))
        self.proj_conv: nn.Module | None = None
        if stride != 1 or in_channels != channels[-1]:
            self.proj_conv = nn.Conv2d(in_channels, channels[-1], 1, stride, bias=False)
        # The compiled InPlace-ABN overwrites its input, so an identity shortcut must be copied first.
        self._copy_shortcut = not isinstance(self.bn1, ABN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.proj_conv is not None:
            pre = self.bn1(x)
            shortcut = self.proj_conv(pre)
        else:
            shortcut = x.clone() if self._copy_shortcut else x
            pre = self.bn1(x)
        return self.convs(pre) + shortcut


class WiderResNetA2(nn.Module):
    """WiderResNet-38-A2 body at output stride 8; `forward(x)` returns `bn_out` features with `out_channels` = 4096.
    Its convs keep `nn.Conv2d`'s own initialisation; `build_model` applies `model.init`."""

    output_stride = 8

    def __init__(self, norm_act: NormAct) -> None:
        super().__init__()
        self.mod1 = nn.Sequential(OrderedDict([("conv1", nn.Conv2d(3, 64, 3, 1, 1, bias=False))]))
        in_channels = 64
        for i, (num_blocks, channels) in enumerate(zip(STRUCTURE, CHANNELS)):
            if i < 2:
                self.add_module(f"pool{i + 2}", nn.MaxPool2d(3, 2, 1))
            blocks = []
            for b in range(num_blocks):
                block = IdentityResidualBlock(in_channels, channels, norm_act, STRIDES[i] if b == 0 else 1,
                                              DILATIONS[i], DROPOUT[i])
                blocks.append((f"block{b + 1}", block))
                in_channels = channels[-1]
            self.add_module(f"mod{i + 2}", nn.Sequential(OrderedDict(blocks)))
        self.bn_out = norm_act(in_channels)
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mod2(self.pool2(self.mod1(x)))
        x = self.mod3(self.pool3(x))
        x = self.mod7(self.mod6(self.mod5(self.mod4(x))))
        return self.bn_out(x)

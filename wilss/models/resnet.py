"""ResNet-18/50/101 bodies with the module layout and key names of the mapillary inplace_abn model zoo (reference
§2.2), so `resnet101_iabn_sync.pth.tar` and WILSON checkpoints load by name.

Layout: `mod1.{conv1,bn1,pool1}`, then `mod2..mod5` each a sequence `block1..blockN` of residual blocks with
`convs.{conv1,bn1,conv2,bn2[,conv3,bn3]}` and, where the shape changes, `proj_conv` + `proj_bn`.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from wilss.models.norm import NormAct

# name -> (blocks per stage mod2..mod5, bottleneck?)
RESNET_SPECS: dict[str, tuple[tuple[int, int, int, int], bool]] = {
    "resnet18": ((2, 2, 2, 2), False),
    "resnet50": ((3, 4, 6, 3), True),
    "resnet101": ((3, 4, 23, 3), True),
}

# output stride -> dilation of mod2..mod5; a stage with dilation 1 (except mod2) downsamples by 2 in its first block.
STAGE_DILATIONS: dict[int, tuple[int, int, int, int]] = {
    32: (1, 1, 1, 1),
    16: (1, 1, 1, 2),
    8: (1, 1, 2, 4),
}


class ResidualBlock(nn.Module):
    """Post-activation residual block: convs (last norm without activation) + shortcut, then leaky-ReLU 0.01.

    Basic (2 convs, channels (c, c)) or bottleneck (3 convs, channels (c, c, 4c)); in the bottleneck the stride sits on
    the 3×3 conv ("ResNet v1.5").
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...], norm_act: NormAct, stride: int = 1,
                 dilation: int = 1) -> None:
        super().__init__()
        if len(channels) == 2:
            layers = [
                ("conv1", nn.Conv2d(in_channels, channels[0], 3, stride, dilation, dilation, bias=False)),
                ("bn1", norm_act(channels[0])),
                ("conv2", nn.Conv2d(channels[0], channels[1], 3, 1, dilation, dilation, bias=False)),
                ("bn2", norm_act(channels[1], activation="identity")),
            ]
        else:
            layers = [
                ("conv1", nn.Conv2d(in_channels, channels[0], 1, bias=False)),
                ("bn1", norm_act(channels[0])),
                ("conv2", nn.Conv2d(channels[0], channels[1], 3, stride, dilation, dilation, bias=False)),
                ("bn2", norm_act(channels[1])),
                ("conv3", nn.Conv2d(channels[1], channels[2], 1, bias=False)),
                ("bn3", norm_act(channels[2], activation="identity")),
            ]
        self.convs = nn.Sequential(OrderedDict(layers))
        self.proj_conv: nn.Module | None = None
        self.proj_bn: nn.Module | None = None
        if stride != 1 or in_channels != channels[-1]:
            self.proj_conv = nn.Conv2d(in_channels, channels[-1], 1, stride, bias=False)
            self.proj_bn = norm_act(channels[-1], activation="identity")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj_conv is None else self.proj_bn(self.proj_conv(x))
        # In place on the fresh sum: nothing saved for backward refers to it.
        return F.leaky_relu(self.convs(x) + shortcut, 0.01, inplace=True)


class ResNet(nn.Module):
    """ResNet body; `forward(x)` returns the mod5 features (`out_channels` channels at `output_stride`). Its convs
    keep `nn.Conv2d`'s own initialisation; `build_model` applies `model.init`."""

    def __init__(self, name: str, norm_act: NormAct, output_stride: int = 16) -> None:
        super().__init__()
        if name not in RESNET_SPECS:
            raise ValueError(f"unknown ResNet {name!r}; valid: {sorted(RESNET_SPECS)}")
        if output_stride not in STAGE_DILATIONS:
            raise ValueError(f"output_stride must be one of {sorted(STAGE_DILATIONS)}, got {output_stride}")
        structure, bottleneck = RESNET_SPECS[name]
        self.output_stride = output_stride
        self.mod1 = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, 64, 7, 2, 3, bias=False)),
            ("bn1", norm_act(64)),
            ("pool1", nn.MaxPool2d(3, 2, 1)),
        ]))
        in_channels = 64
        for stage, (num_blocks, dilation) in enumerate(zip(structure, STAGE_DILATIONS[output_stride])):
            width = 64 * 2 ** stage
            channels = (width, width, 4 * width) if bottleneck else (width, width)
            blocks = []
            for b in range(num_blocks):
                stride = 2 if b == 0 and stage > 0 and dilation == 1 else 1
                blocks.append((f"block{b + 1}", ResidualBlock(in_channels, channels, norm_act, stride, dilation)))
                in_channels = channels[-1]
            self.add_module(f"mod{stage + 2}", nn.Sequential(OrderedDict(blocks)))
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mod1(x)
        x = self.mod2(x)
        x = self.mod3(x)
        x = self.mod4(x)
        return self.mod5(x)

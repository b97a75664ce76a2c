"""Atrous (dilated) 3×3 convolutions that skip the taps which can only see padding (`train.trim_padding_taps`).

With padding = dilation d, the outer taps of an axis read the input d pixels away from the output pixel. On a
feature map of size ≤ d along that axis they read zero padding for every output pixel, so they add nothing to the
output and get a zero gradient. ASPP at output stride 16 meets this whenever the crop is ≤ 16·d: at crop 256 the
rate-18 branch works on 16 × 16 maps. Dropping those taps computes the same values with a third (one axis) or a
ninth (both) of the multiplications, and avoids oneDNN's slow fallback for such convolutions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def trim_padding_taps(weight: torch.Tensor, padding: Sequence[int], dilation: Sequence[int],
                      size: Sequence[int]) -> tuple[torch.Tensor, list[int], list[int]]:
    """(weight, padding, dilation) of the same convolution without the taps that only see padding on an input of
    spatial `size`. Only odd kernels padded by dilation · (k − 1) / 2 (output size = input size) are trimmed."""
    weight_index, padding, dilation = [slice(None), slice(None)], list(padding), list(dilation)
    for axis, extent in enumerate(size):
        kernel = weight.shape[2 + axis]
        reach = dilation[axis] * (kernel - 1) // 2
        if kernel > 1 and kernel % 2 == 1 and padding[axis] == reach and dilation[axis] >= extent:
            weight_index.append(slice(kernel // 2, kernel // 2 + 1))
            padding[axis], dilation[axis] = 0, 1
        else:
            weight_index.append(slice(None))
    return weight[tuple(weight_index)], padding, dilation


class AtrousConv2d(nn.Conv2d):
    """nn.Conv2d (same parameters and state_dict keys) that, with `trim_padding_taps`, skips the taps that only see
    padding on the input at hand."""

    def __init__(self, *args, trim_padding_taps: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if trim_padding_taps and self.stride != (1, 1):
            raise ValueError("trim_padding_taps needs stride 1 (output size = input size)")
        self.trim_padding_taps = trim_padding_taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.trim_padding_taps:
            return super().forward(x)
        weight, padding, dilation = trim_padding_taps(self.weight, self.padding, self.dilation, x.shape[-2:])
        return F.conv2d(x, weight, self.bias, self.stride, padding, dilation, self.groups)

"""Pre-packed oneDNN convolutions for a frozen model on the CPU (`train.prepack_frozen_model`).

PyTorch's CPU convolution passes its weight to oneDNN in PyTorch's layout, and oneDNN reorders it into its own
blocked layout on every call (a tenth of a WILSON step-1 iteration at crop 256 is such reorders). A model that never
trains again (WILSON's old model, after `fold_norms` and `cast_weights`) can keep each weight in oneDNN's layout,
packed once per input shape, and have the leaky-ReLU that follows a conv computed inside the conv. torch has no
public API for this: the two oneDNN operators used (`torch.ops.mkldnn`) are pinned by tests/test_prepack.py, which
fails if a torch release changes them.
"""

from __future__ import annotations

import torch
from torch import nn

from wilss.core import cpu_has_native_bf16
from wilss.models.atrous import AtrousConv2d, trim_padding_taps
from wilss.models.fold import conv_pairs


def available(device: torch.device, precision: str = "fp32") -> bool:
    """oneDNN's packed convolutions on the CPU; in bf16 only where the CPU has bf16 instructions (oneDNN refuses
    to pack bf16 weights on an AVX2 CPU: "bf16 path needs ... avx512bw, avx512vl and avx512dq")."""
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    return precision != "bf16" or cpu_has_native_bf16()


class PackedConv2d(nn.Module):
    """A frozen Conv2d (optionally with its following leaky-ReLU) as one oneDNN call on a pre-packed weight. The
    packing depends on the input shape (oneDNN picks its kernel for it): it is redone only when the shape changes.
    Inference only: it records no autograd."""

    def __init__(self, conv: nn.Conv2d, leaky_relu_slope: float | None = None) -> None:
        super().__init__()
        if isinstance(conv.padding, str) or conv.padding_mode != "zeros":
            raise ValueError(f"cannot pack {conv}: only explicit zero padding is supported")
        self.weight = conv.weight.detach()
        self.bias = None if conv.bias is None else conv.bias.detach()
        self.stride, self.padding, self.dilation = list(conv.stride), list(conv.padding), list(conv.dilation)
        self.groups = conv.groups
        self.trim = isinstance(conv, AtrousConv2d) and conv.trim_padding_taps
        self.activation = ("leaky_relu", [leaky_relu_slope]) if leaky_relu_slope is not None else ("none", [])
        self._packed_for: torch.Size | None = None
        self._packed: tuple = ()

    def _pack(self, shape: torch.Size) -> None:
        weight, padding, dilation = self.weight, self.padding, self.dilation
        if self.trim:
            weight, padding, dilation = trim_padding_taps(weight, padding, dilation, shape[-2:])
        packed = torch.ops.mkldnn._reorder_convolution_weight(weight, padding, self.stride, dilation, self.groups,
                                                               list(shape))
        self._packed, self._packed_for = (packed, padding, dilation), shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.weight.dtype)  # autocast does not know this op: the input takes the weights' dtype
        if x.shape != self._packed_for:
            self._pack(x.shape)
        packed, padding, dilation = self._packed
        return torch.ops.mkldnn._convolution_pointwise(x, packed, self.bias, padding, self.stride, dilation,
                                                       self.groups, *self.activation, "")

    def extra_repr(self) -> str:
        return f"weight={tuple(self.weight.shape)}, {self.weight.dtype}, activation={self.activation[0]}"


def prepack_convs(model: nn.Module) -> int:
    """Replace every Conv2d of a frozen model by a PackedConv2d; a leaky-ReLU module that directly follows a conv in
    an `nn.Sequential` (what `fold_norms` leaves) moves into it. Returns the number of packed convs."""
    if model.training or any(p.requires_grad for p in model.parameters()):
        raise ValueError("prepack_convs needs a frozen model (eval mode, no parameter requiring grad)")
    pairs = conv_pairs(model, lambda module: isinstance(module, nn.LeakyReLU))
    for sequential, conv, activation in pairs:
        slope = sequential._modules[activation].negative_slope
        sequential._modules[conv] = PackedConv2d(sequential._modules[conv], slope)
        sequential._modules[activation] = nn.Identity()
    packed = len(pairs)
    for parent in list(model.modules()):
        for name, child in list(parent._modules.items()):
            if isinstance(child, nn.Conv2d):
                parent._modules[name] = PackedConv2d(child)
                packed += 1
    return packed

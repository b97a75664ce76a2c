"""Skipping the atrous taps that only see padding (`train.trim_padding_taps`) changes neither the output nor the
gradients, and only happens where a tap really never reaches the feature map."""

from __future__ import annotations

import copy

import pytest
import torch

from wilss.models import build_model
from wilss.models.atrous import AtrousConv2d, trim_padding_taps


@pytest.mark.parametrize("size", [(16, 16), (20, 16), (16, 20), (24, 24), (12, 30), (19, 13)])
@pytest.mark.parametrize("dilation", [6, 12, 18])
def test_trimmed_conv_matches_the_full_conv_in_values_and_gradients(size, dilation):
    torch.manual_seed(0)
    full = torch.nn.Conv2d(8, 4, 3, padding=dilation, dilation=dilation, bias=True).double()
    trimmed = AtrousConv2d(8, 4, 3, padding=dilation, dilation=dilation, bias=True, trim_padding_taps=True).double()
    trimmed.load_state_dict(full.state_dict())
    x = torch.randn(2, 8, *size, dtype=torch.float64, requires_grad=True)
    x_trimmed = x.detach().clone().requires_grad_(True)
    out, out_trimmed = full(x), trimmed(x_trimmed)
    torch.testing.assert_close(out_trimmed, out, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(out)
    out.backward(grad)
    out_trimmed.backward(grad)
    torch.testing.assert_close(x_trimmed.grad, x.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(trimmed.weight.grad, full.weight.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("size", "kernel_shape", "padding", "dilation"), [
    ((16, 16), (1, 1), [0, 0], [1, 1]),     # the rate-18 branch at crop 256, OS 16: only the centre tap is left
    ((20, 16), (3, 1), [18, 0], [18, 1]),   # the map is taller than the rate: rows kept, columns trimmed
    ((19, 19), (3, 3), [18, 18], [18, 18]),  # one pixel more than the rate: every tap reaches the map somewhere
])
def test_only_taps_that_never_reach_the_map_are_trimmed(size, kernel_shape, padding, dilation):
    weight = torch.randn(4, 8, 3, 3)
    trimmed, new_padding, new_dilation = trim_padding_taps(weight, [18, 18], [18, 18], size)
    assert tuple(trimmed.shape[2:]) == kernel_shape and new_padding == padding and new_dilation == dilation


def test_a_conv_whose_padding_changes_the_output_size_is_left_alone():
    weight = torch.randn(4, 8, 3, 3)
    trimmed, padding, dilation = trim_padding_taps(weight, [0, 0], [18, 18], (16, 16))
    assert trimmed.shape == weight.shape and padding == [0, 0] and dilation == [18, 18]


def test_the_head_with_trimmed_taps_has_the_same_checkpoint_keys_and_logits():
    torch.manual_seed(0)
    model = build_model("resnet18", [16, 5]).eval()
    trimming = build_model("resnet18", [16, 5], trim_padding_taps=True).eval()
    trimming.load_state_dict(copy.deepcopy(model.state_dict()))  # strict: the same keys and shapes
    assert model.state_dict().keys() == trimming.state_dict().keys()
    images = torch.randn(2, 3, 128, 128)  # 8 × 8 features at output stride 16: every atrous branch is trimmed
    with torch.inference_mode():
        torch.testing.assert_close(trimming(images)[0], model(images)[0], rtol=1e-4, atol=1e-4)


def test_trimming_refuses_a_strided_conv():
    with pytest.raises(ValueError, match="stride 1"):
        AtrousConv2d(8, 4, 3, stride=2, padding=6, dilation=6, trim_padding_taps=True)

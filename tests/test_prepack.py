"""Pre-packing the frozen old model's convolutions for oneDNN (`train.prepack_frozen_model`) changes no output:
the packed model computes the logits and features of the folded model it came from, at any input size."""

from __future__ import annotations

import copy

import pytest
import torch

from wilss.models import build_model
from wilss.models.fold import fold_norms
from wilss.models.prepack import PackedConv2d, available, prepack_convs

pytestmark = pytest.mark.skipif(not available(torch.device("cpu")), reason="this torch build lacks oneDNN")


def frozen_folded(trim: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("resnet18", [16, 5], trim_padding_taps=trim).eval().requires_grad_(False)
    fold_norms(model)
    return model


def outputs(model, images):
    with torch.inference_mode():
        logits, features = model(images, interpolate=False)
    return logits, features["body"]


def test_every_conv_is_packed_and_the_leaky_relus_after_convs_are_fused():
    model = frozen_folded()
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert prepack_convs(model) == convs
    assert not any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    # the stem and the first conv of each of resnet18's 8 basic blocks are followed by a leaky-ReLU
    fused = [m for m in model.modules() if isinstance(m, PackedConv2d) and m.activation[0] == "leaky_relu"]
    assert len(fused) == 1 + 8


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("trim", [False, True])
def test_packed_model_gives_the_folded_models_outputs_at_every_input_size(channels_last, trim):
    model = frozen_folded(trim)
    packed = copy.deepcopy(model)
    prepack_convs(packed)
    for size in (64, 96, 64, 128):  # a new size repacks; coming back to one repacks again
        images = torch.randn(2, 3, size, size)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        for ours, theirs in zip(outputs(packed, images), outputs(model, images)):
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4 * theirs.abs().max().item())


@pytest.mark.skipif(not available(torch.device("cpu"), "bf16"),
                    reason="this CPU has no bf16 instructions: oneDNN packs no bf16 weights, and the kit does not ask it to")
def test_packed_bf16_model_stays_within_bf16_rounding_under_autocast():
    model = frozen_folded()
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.to(torch.bfloat16)
    packed = copy.deepcopy(model)
    prepack_convs(packed)
    images = torch.randn(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", torch.bfloat16):
        ours, theirs = outputs(packed, images), outputs(model, images)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype == torch.bfloat16
        torch.testing.assert_close(a.float(), b.float(), rtol=0.05, atol=0.02 * b.float().abs().max().item())


def test_prepack_refuses_a_model_that_still_trains():
    model = build_model("resnet18", [16, 5]).eval()
    with pytest.raises(ValueError, match="frozen model"):
        prepack_convs(model)

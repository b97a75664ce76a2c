"""Folding the frozen old model's norm layers into its convs (`train.fold_frozen_norms`) changes no output."""

from __future__ import annotations

import copy
import importlib.util

import pytest
import torch

from wilss.models import build_model
from wilss.models.fold import fold_norms
from wilss.models.norm import ABN

NORMS = ["native"] + (["inplace_abn"] if importlib.util.find_spec("inplace_abn") else [])


def trained_looking(backbone: str, norm: str) -> torch.nn.Module:
    """A model whose norm layers hold non-trivial statistics and affine parameters, some γ negative (InPlace-ABN
    scales by |γ| + ε)."""
    torch.manual_seed(0)
    model = build_model(backbone, [16, 5], output_stride=8, norm=norm)
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, "running_var"):
                module.running_mean.normal_(0, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.normal_(0, 1.0)
                module.bias.normal_(0, 0.2)
    return model.eval()


def norm_count(model: torch.nn.Module) -> int:
    return sum(hasattr(m, "running_var") for m in model.modules())


# WRN-38 is slow to build: its pre-activation layout is checked with the native norm only.
@pytest.mark.parametrize(("backbone", "norm"), [("resnet18", n) for n in NORMS] + [("wideresnet38", "native")])
def test_folded_model_computes_the_same_logits_and_features(backbone, norm):
    model = trained_looking(backbone, norm)
    folded = copy.deepcopy(model)
    count = fold_norms(folded)
    # resnet18: the stem and two per basic block; WRN-38 (pre-activation): the norms between the convs of a block
    # (one in each of its 15 two-conv blocks, two in each of its 2 three-conv blocks).
    assert count == {"resnet18": 1 + 8 * 2, "wideresnet38": 15 * 1 + 2 * 2}[backbone]
    assert norm_count(folded) == norm_count(model) - count
    images = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        logits, features = model(images, interpolate=False)
        folded_logits, folded_features = folded(images, interpolate=False)
    scale = logits.abs().max()
    torch.testing.assert_close(folded_logits, logits, rtol=1e-4, atol=1e-5 * scale)
    body = features["body"]
    torch.testing.assert_close(folded_features["body"], body, rtol=1e-4, atol=1e-5 * body.abs().max())


def test_fold_refuses_a_model_in_training_mode():
    model = build_model("resnet18", [16, 5])
    with pytest.raises(ValueError, match="eval mode"):
        fold_norms(model.train())
    assert all(not isinstance(m, torch.nn.LeakyReLU) for m in model.modules())
    assert sum(isinstance(m, ABN) for m in model.modules()) == norm_count(model)

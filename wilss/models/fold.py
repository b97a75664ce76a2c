"""Fold a frozen model's eval-mode norm layers into the convolutions that feed them.

In eval mode a norm layer is a fixed per-channel affine map, y = x · m + s with m = (|γ| + ε) / sqrt(σ² + ε) and
s = β − μ · m (InPlace-ABN's |γ| + ε scale, reference §2.1). A convolution directly followed by it computes the same
as one convolution with weights W · m and bias b · m + s, followed by the norm's activation alone: one pass over
the activations fewer per pair. Only for a model that never trains again (WILSON's old model).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from wilss.models.norm import ABN, abn_scale, is_norm_act


def _activation(norm: nn.Module) -> nn.Module:
    slope = norm.slope if isinstance(norm, ABN) else norm.activation_param
    return nn.LeakyReLU(slope, inplace=True) if norm.activation == "leaky_relu" else nn.Identity()


def _is_foldable_norm(module: nn.Module) -> bool:
    """A norm layer with an activation that survives folding."""
    return is_norm_act(module) and module.activation in ("leaky_relu", "identity")


def conv_pairs(model: nn.Module, follower: Callable[[nn.Module], bool]) -> list[tuple[nn.Sequential, str, str]]:
    """(sequential, conv name, follower name) for every Conv2d directly followed, inside an `nn.Sequential`, by a
    module for which `follower` holds."""
    pairs = []
    for sequential in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(sequential._modules)
        pairs += [(sequential, first, second) for first, second in zip(names, names[1:])
                  if isinstance(sequential._modules[first], nn.Conv2d) and follower(sequential._modules[second])]
    return pairs


@torch.no_grad()
def _fold_pair(conv: nn.Conv2d, norm: nn.Module) -> None:
    gain = abn_scale(norm.weight, norm.eps) * torch.rsqrt(norm.running_var + norm.eps)
    bias = norm.bias - norm.running_mean * gain
    if conv.bias is not None:
        bias = bias + conv.bias * gain
    conv.weight.mul_(gain.view(-1, 1, 1, 1).to(conv.weight.dtype))
    conv.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)


def fold_norms(model: nn.Module) -> int:
    """Fold every norm layer that follows a Conv2d inside an `nn.Sequential` (the residual blocks' conv stacks and
    the stem) into that conv; the norm is replaced by its activation. Returns the number of folded pairs. Call on
    a model in eval mode, before casting its weights: the fold is computed in the weights' own precision."""
    if model.training:
        raise ValueError("fold_norms needs a model in eval mode: training-mode norms use batch statistics")
    pairs = conv_pairs(model, _is_foldable_norm)
    for sequential, conv, norm in pairs:
        _fold_pair(sequential._modules[conv], sequential._modules[norm])
        sequential._modules[norm] = _activation(sequential._modules[norm])
    return len(pairs)

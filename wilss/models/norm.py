"""Batch norm + activation with InPlace-ABN semantics, native or via the compiled `inplace_abn` package.

InPlace-ABN scales by |γ| + ε instead of γ (reference §2.1); the ImageNet weights and WILSON checkpoints were
trained with that parametrisation, so the native layer reproduces it, gradient included, rather than converting
weights. Both
implementations have identical state-dict keys (weight, bias, running_mean, running_var, num_batches_tracked), so a
checkpoint written by one loads into the other.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from wilss.errors import WilssError

NormAct = Callable[..., nn.Module]
"""`norm_act(num_features, activation="leaky_relu") -> nn.Module`."""

ACTIVATIONS = ("leaky_relu", "identity")
NORM_KINDS = ("native", "inplace_abn")


def abn_scale(weight: torch.Tensor, eps: float) -> torch.Tensor:
    """|γ| + ε with InPlace-ABN's gradient: the upstream value times −1 where γ < 0 and +1 elsewhere, also at
    γ = ±0. (`abs()` has gradient 0 at 0, so a γ that reached exactly 0 would never move again.)"""
    sign = 1 - 2 * (weight.detach() < 0).to(weight.dtype)
    return weight * sign + eps


class ABN(nn.Module):
    """y = act((x − μ) / sqrt(σ² + ε) · (|γ| + ε) + β): the forward of inplace_abn's `InPlaceABN` in plain PyTorch.

    Unlike InPlace-ABN it keeps the BN input for backward (no memory saving) but works with channels_last and bf16
    autocast. With `sync=True` the batch statistics are computed over all ranks in training.
    """

    # inplace_abn 1.1.0's ABN is at state-dict version 2 (num_batches_tracked added); same metadata here.
    _version = 2

    def __init__(
        self,
        num_features: int,
        activation: str = "leaky_relu",
        slope: float = 0.01,
        eps: float = 1e-5,
        momentum: float = 0.1,
        sync: bool = False,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.num_features = num_features
        self.activation = activation
        self.slope = slope
        self.eps = eps
        self.momentum = momentum
        self.sync = sync
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = abn_scale(self.weight, self.eps)
        if self.training:
            self.num_batches_tracked.add_(1)
        world_size = _sync_world_size() if self.sync and self.training else 1
        if world_size > 1:
            # nn.SyncBatchNorm scales by γ, not |γ| + ε, and its fused exchange is not public API: the statistics
            # are summed over ranks here with one all_reduce (the same code on CPU and GPU).
            y = _sync_batch_norm(x, scale, self.bias, self.running_mean, self.running_var, self.eps, self.momentum)
        else:
            y = F.batch_norm(
                x, self.running_mean, self.running_var, scale, self.bias, self.training, self.momentum, self.eps
            )
        if self.activation == "leaky_relu":
            # In place is safe: batch norm's backward needs its input, not its output.
            return F.leaky_relu(y, self.slope, inplace=True)
        return y

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # Checkpoints from before num_batches_tracked existed (state-dict version < 2, e.g. old InPlace-ABN releases)
        # lack it; inplace_abn 1.1.0 fills in 0 for those, and so do we (for any file, which is equally harmless).
        key = prefix + "num_batches_tracked"
        if key not in state_dict:
            state_dict[key] = torch.tensor(0, dtype=torch.long)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def extra_repr(self) -> str:
        act = f"leaky_relu[{self.slope}]" if self.activation == "leaky_relu" else self.activation
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, activation={act}, sync={self.sync}"


def _sync_world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose backward also sums the gradients over ranks: every rank's loss depends on every rank's
    batch statistics, so the gradient w.r.t. the local sums is the sum of all ranks' gradients."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def _sync_batch_norm(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    eps: float,
    momentum: float,
) -> torch.Tensor:
    """Training-mode batch norm with per-channel sums, sums of squares and counts added up over all ranks."""
    xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x  # statistics in at least fp32
    dims = [0, *range(2, x.dim())]
    channels = x.shape[1]
    count = torch.full((1,), x.numel() / channels, dtype=xf.dtype, device=x.device)
    stats = _AllReduceSum.apply(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]))
    total = stats[-1]
    mean = stats[:channels] / total
    var = (stats[channels:2 * channels] / total - mean * mean).clamp_min(0)
    with torch.no_grad():
        running_mean.mul_(1 - momentum).add_(momentum * mean.to(running_mean.dtype))
        running_var.mul_(1 - momentum).add_(momentum * (var * total / (total - 1)).to(running_var.dtype))
    shape = [1, channels] + [1] * (x.dim() - 2)
    gain = weight * torch.rsqrt(var + eps)
    return ((xf - mean.view(shape)) * gain.view(shape) + bias.view(shape)).to(x.dtype)


def is_norm_act(module: nn.Module) -> bool:
    """A norm layer of either kind: our ABN, or the compiled extension's InPlaceABN(Sync), which share the
    parametrisation (|γ| + ε scale) and the `activation` attribute."""
    inplace_abn = sys.modules.get("inplace_abn")  # imported by build_norm when such layers exist
    return isinstance(module, ABN) or (inplace_abn is not None and isinstance(module, inplace_abn.ABN))


def build_norm(kind: str, sync: bool) -> NormAct:
    """Return `norm_act(num_features, activation="leaky_relu")` for `model.norm=<kind>`.

    kind "native": `ABN` (sync across ranks in training if `sync`). kind "inplace_abn": the compiled extension's
    `InPlaceABNSync` if `sync` and torch.distributed is initialised with more than one rank (so build the model after
    `init_process_group`), else `InPlaceABN`.
    """
    if kind == "native":
        def native(num_features: int, activation: str = "leaky_relu") -> nn.Module:
            return ABN(num_features, activation=activation, slope=0.01, sync=sync)

        return native
    if kind == "inplace_abn":
        try:
            import inplace_abn
        except ImportError as err:
            raise WilssError(
                f"model.norm=inplace_abn needs the compiled inplace-abn 1.1.0 extension, which cannot be imported "
                f"({err}). Build and install it into this environment with `PYTHON=$(which python) bash "
                f"scripts/build_inplace_abn.sh`, or set model.norm=native (same results and same checkpoints)."
            ) from err

        def iabn(num_features: int, activation: str = "leaky_relu") -> nn.Module:
            if activation not in ACTIVATIONS:
                raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
            if sync and _sync_world_size() > 1:
                # The group must be passed explicitly: inplace-abn 1.1.0's default is bound at import time, before
                # init_process_group, and then silently does not synchronise (mapillary/inplace_abn#219).
                return inplace_abn.InPlaceABNSync(
                    num_features, activation=activation, activation_param=0.01, group=dist.group.WORLD
                )
            return inplace_abn.InPlaceABN(num_features, activation=activation, activation_param=0.01)

        return iabn
    raise WilssError(f"model.norm={kind!r} is not a known norm layer; valid values: {', '.join(NORM_KINDS)}.")

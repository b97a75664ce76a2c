"""Mixed precision: which dtype autocast uses on which device, and whether gradients need scaling."""

from __future__ import annotations

import contextlib

import torch

from wilss.core import cpu_has_native_bf16


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` → fp16 on CUDA (as the original's AMP); on CPU bf16 where the CPU has bf16 instructions (fast
    kernels, no scaler needed), fp32 elsewhere."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Loss scaling only for fp16; a disabled scaler is a no-op with the same interface."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """Autocast's half-precision outputs in fp32 for losses and targets; fp32 and fp64 tensors as they are (a
    float64 run stays float64 throughout, which the reference-mode test compares against)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x

"""How this process runs a step on its device, decided once when the step starts."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import DictConfig

from wilss.engine.precision import resolve_precision


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision: str        # fp32 | bf16 | fp16, `auto` resolved for the device
    channels_last: bool   # NHWC activations
    sync_bn: bool         # batch statistics over all ranks
    compile: bool         # torch.compile the trained modules' forward pass


def resolve_runtime(train: DictConfig, model: DictConfig, device: torch.device, world_size: int) -> Runtime:
    """`train` and `model` are the step's config sections. Channels-last only with the native norm layer:
    InPlace-ABN's kernels take NCHW tensors."""
    return Runtime(device=device, precision=resolve_precision(train.precision, device),
                   channels_last=bool(train.channels_last and model.norm == "native"),
                   sync_bn=bool(model.sync_bn and world_size > 1), compile=bool(train.compile))


# Eager fp32 on the CPU: for tools that build a model only to save or compare its weights.
PLAIN_CPU = Runtime(device=torch.device("cpu"), precision="fp32", channels_last=False, sync_bn=False, compile=False)

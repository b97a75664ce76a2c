"""The method registry and what a builder gets, in a module of their own: the built-in methods import them, and
the package's `__init__` imports the built-in methods, so neither imports the other back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from omegaconf import DictConfig
from torch import nn

from wilss.data.tasks import Task
from wilss.registry import Registry


@dataclass(frozen=True)
class MethodContext:
    """What a method builder gets: the step's config and task, the model, and the frozen step t−1 model."""

    cfg: DictConfig
    task: Task
    model: nn.Module                              # the plain model: parameters, checkpoints
    wrap: Callable[[nn.Module], nn.Module]        # what runs a trained module's forward pass (DDP, compile)
    old_model: nn.Module | None                   # step t−1, frozen; None unless the method starts from it
    device: torch.device
    channels_last: bool
    sync_bn: bool                                 # batch statistics over all ranks (model.sync_bn, several ranks)


class Method(Protocol):
    """What the engine calls on a built method (checked when it is built)."""

    def losses(self, batch: dict[str, torch.Tensor], epoch: int) -> dict[str, torch.Tensor]: ...

    def param_groups(self, phase: DictConfig) -> list[dict]: ...

    def modules(self) -> dict[str, nn.Module]: ...     # everything it trains, saved by name in checkpoints


METHODS: Registry[Callable[[MethodContext], Method]] = Registry(
    "method", __package__, "method.name", group="wilss.methods", contract=Method)

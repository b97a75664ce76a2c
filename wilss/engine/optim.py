"""Optimizer with the original's parameter groups, and the per-iteration learning-rate schedules (docs/method.md, "Step 0" and "Schedules")."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def build_optimizer(groups: list[dict], optim_cfg) -> torch.optim.SGD:
    """SGD, Nesterov momentum, weight decay on every group (biases and norm parameters included, as the
    original). Each group dict holds 'name', 'params' and its base 'lr'."""
    return torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=optim_cfg.momentum, nesterov=optim_cfg.nesterov,
                           weight_decay=optim_cfg.weight_decay, fused=bool(optim_cfg.fused))


def segmentation_param_groups(model: nn.Module, lr: float, lr_head: float) -> list[dict]:
    """Body at `lr`; DeepLab head and every classifier at `lr * lr_head`."""
    return [
        {"name": "body", "params": list(model.body.parameters()), "lr": lr},
        {"name": "head", "params": list(model.head.parameters()), "lr": lr * lr_head},
        {"name": "classifier", "params": list(model.cls.parameters()), "lr": lr * lr_head},
    ]


@dataclass
class PolySchedule:
    """lr_i = lr_0 · (1 − i / max_iters)^power, stepped every iteration.

    With `constant_iters` > 0 the lr stays at lr_0 for the first `constant_iters` iterations and then follows
    the poly curve of the *global* iteration, so it drops discontinuously at the switch (the original's
    misnamed "warmup" policy, e.g. ×0.887 after 5 of 40 epochs); kept for parity.
    """

    optimizer: torch.optim.Optimizer
    max_iters: int
    power: float = 0.9
    constant_iters: int = 0
    iteration: int = 0

    def __post_init__(self) -> None:
        for group in self.optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self._apply()

    def factor(self, iteration: int) -> float:
        if iteration < self.constant_iters:
            return 1.0
        return max(0.0, 1.0 - iteration / self.max_iters) ** self.power

    def _apply(self) -> None:
        factor = self.factor(self.iteration)
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def step(self) -> None:
        self.iteration += 1
        self._apply()

    def state_dict(self) -> dict:
        return {"iteration": self.iteration}

    def load_state_dict(self, state: dict) -> None:
        self.iteration = int(state["iteration"])
        self._apply()


def build_schedule(optimizer: torch.optim.Optimizer, policy: str, max_iters: int, power: float,
                   constant_iters: int) -> PolySchedule:
    """`poly`, or `constant_then_poly` (original name: `warmup`)."""
    constant = constant_iters if policy in ("constant_then_poly", "warmup") else 0
    return PolySchedule(optimizer, max_iters=max_iters, power=power, constant_iters=constant)

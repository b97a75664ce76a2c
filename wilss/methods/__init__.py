"""Training methods: what one iteration computes. The engine owns the loop; a method owns the maths.

A method exposes `losses(batch, epoch) -> dict[str, Tensor]`, `param_groups(phase_cfg) -> list[dict]` and
`modules() -> dict[str, nn.Module]` (everything it trains, saved by name in checkpoints). Each module of this
package registers its builders in `METHODS` under the `method.name` of their configs; what a method decides
about the rest of the run (labels, classes, recipe, initialisation) is in its config (`wilss.config.StepRecipe`).
Adding a method: a module here (listed in `_builtin`) plus a `wilss/configs/method/<name>.yaml`, or a `wilss.methods`
entry point of your own package (docs/design.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


def _builtin() -> None:
    from wilss.methods import supervised, wilson  # noqa: F401 (they register)


METHODS: Registry[Callable[[MethodContext], object]] = Registry(
    "method", __name__, "method.name", group="wilss.methods", builtin=_builtin)

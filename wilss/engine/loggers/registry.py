"""The metric logger registry and the interface of a logger, in a module of their own: the built-in loggers
import them, and the package's `__init__` imports the built-in loggers, so neither imports the other back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from wilss.layout import StepLayout
from wilss.registry import Registry


class MetricLogger(Protocol):
    def scalars(self, values: dict[str, float | None], step: int) -> None: ...

    def image(self, name: str, image: torch.Tensor, step: int) -> None: ...

    def close(self) -> None: ...


LOGGERS: Registry[Callable[[StepLayout, int | None], MetricLogger]] = Registry(
    "metric logger", __package__, "train.loggers", group="wilss.loggers")

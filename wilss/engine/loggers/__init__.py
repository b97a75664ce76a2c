"""Metric loggers (`train.loggers`, a list of names): each module of this package registers a builder in
`LOGGERS` (`registry.py`) that takes the step's layout and the global iteration a resumed step continues after
(None for a fresh start: a logger drops what it had recorded after that point, which the step now runs again) and
returns a `MetricLogger` (`registry.py`). The hooks write to `MetricLoggers`, which hands every value to each
configured logger on rank 0. Adding a sink (W&B, MLflow, CSV): one module here, listed in `_builtin`, or one in
your own package declared as a `wilss.loggers` entry point (docs/design.md)."""

from __future__ import annotations

import torch

from wilss.engine.loggers.registry import LOGGERS
from wilss.layout import StepLayout

__all__ = ["LOGGERS", "MetricLoggers"]


@LOGGERS.builtin
def _builtin() -> None:
    from wilss.engine.loggers import jsonl, tensorboard  # noqa: F401 (they register)


class MetricLoggers:
    """Every configured logger at once; none on ranks other than 0. `step` is the global iteration."""

    def __init__(self, names: list[str], files: StepLayout | None, resumed_after: int | None = None) -> None:
        self.loggers = [LOGGERS.get(name)(files, resumed_after) for name in names] if files is not None else []

    def scalars(self, values: dict[str, float | None], step: int) -> None:
        present = {name: value for name, value in values.items() if value is not None}
        for logger in self.loggers:
            logger.scalars(present, step)

    def image(self, name: str, image: torch.Tensor, step: int) -> None:
        for logger in self.loggers:
            logger.image(name, image, step)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()

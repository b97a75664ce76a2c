"""TensorBoard event files under `<step dir>/tensorboard/` (`tensorboard --logdir outputs`)."""

from __future__ import annotations

import torch

from wilss.engine.loggers.registry import LOGGERS
from wilss.layout import StepLayout


class TensorBoardLogger:
    def __init__(self, files: StepLayout, resumed_after: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter  # the tensorboard package, only when chosen

        # A resumed step runs again the iterations after its checkpoint: their events from the interrupted run
        # are dropped (purge_step), so each step of a curve appears once.
        purge = None if resumed_after is None else resumed_after + 1
        self.writer = SummaryWriter(str(files.tensorboard), purge_step=purge)

    def scalars(self, values: dict[str, float], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def image(self, name: str, image: torch.Tensor, step: int) -> None:
        self.writer.add_image(name, image, step)

    def close(self) -> None:
        self.writer.close()


LOGGERS.register("tensorboard")(TensorBoardLogger)

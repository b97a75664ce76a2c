"""Periodic side concerns of the training loop, one class each. Hook order matters at the end of an epoch:
validation runs before the checkpoint, so the saved sidecar carries the latest metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from wilss import distributed
from wilss.checkpoint import save_checkpoint
from wilss.core import log
from wilss.engine.evaluate import evaluate
from wilss.engine.interrupt import StopRequest, TrainingInterrupted
from wilss.engine.trainer import Hook, Trainer
from wilss.metrics import summarize
from wilss.visualize import panel_grid



class TensorBoard:
    """Rank 0's TensorBoard writer; a do-nothing stand-in elsewhere or when disabled."""

    def __init__(self, directory: Path | None) -> None:
        self.writer = None
        if directory is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(directory))

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer:
            for name, value in values.items():
                if value is not None:
                    self.writer.add_scalar(name, value, step)

    def image(self, name: str, image: torch.Tensor, step: int) -> None:
        if self.writer:
            self.writer.add_image(name, image, step)

    def close(self) -> None:
        if self.writer:
            self.writer.close()


class ProgressHook(Hook):
    """Every `interval` iterations: losses, lr, throughput and ETA on the console and in TensorBoard.
    Reading the loss values synchronises with the device, so it happens only here, not every step."""

    def __init__(self, interval: int, global_batch: int, board: TensorBoard, is_main: bool) -> None:
        self.interval, self.global_batch, self.board, self.is_main = interval, global_batch, board, is_main
        self.window_start = time.perf_counter()
        self.window_iters = 0

    def after_step(self, trainer: Trainer) -> None:
        self.window_iters += 1
        progress = trainer.progress
        if progress.global_iteration % self.interval and progress.iteration != progress.iters_per_epoch:
            return
        elapsed = time.perf_counter() - self.window_start
        seconds_per_iter = elapsed / max(self.window_iters, 1)
        self.window_start, self.window_iters = time.perf_counter(), 0
        if not self.is_main:
            return
        losses = {name: float(value) for name, value in trainer.losses.items()}
        lrs = {f"lr/{group['name']}": group["lr"] for group in trainer.optimizer.param_groups}
        remaining = (progress.max_iters - progress.global_iteration) * seconds_per_iter
        log.info(
            "epoch %d/%d iter %d/%d | %s | lr %.2e | %.1f img/s | eta %s",
            progress.epoch + 1, progress.epochs, progress.iteration, progress.iters_per_epoch,
            " ".join(f"{name} {value:.4f}" for name, value in losses.items()),
            trainer.optimizer.param_groups[0]["lr"], self.global_batch / max(seconds_per_iter, 1e-9),
            time.strftime("%H:%M:%S", time.gmtime(remaining)),
        )
        self.board.scalars({f"loss/{k}": v for k, v in losses.items()} | lrs, progress.global_iteration)
        self.board.scalars({"throughput/img_per_s": self.global_batch / max(seconds_per_iter, 1e-9)},
                           progress.global_iteration)


class ValidationHook(Hook):
    """Every `interval` epochs and after the last: mIoU on the validation set, to console and TensorBoard."""

    def __init__(self, interval: int, loader: DataLoader, task, eval_cfg: dict, board: TensorBoard,
                 is_main: bool, panels: int) -> None:
        self.interval, self.loader, self.task, self.eval_cfg = interval, loader, task, eval_cfg
        self.board, self.is_main, self.panels = board, is_main, panels
        self.last_metrics: dict = {}

    def after_epoch(self, trainer: Trainer) -> None:
        progress = trainer.progress
        if progress.epoch % self.interval and not progress.finished:
            return
        model = trainer.method.model
        matrix, panels = evaluate(model, self.loader, len(self.task.order), **self.eval_cfg,
                                  keep_panels=self.panels if self.is_main else 0)
        summary = summarize(matrix.iou(), self.task.num_old, self.task.class_names())
        self.last_metrics = {key: summary[key] for key in ("miou_old", "miou_new", "miou_all")}
        if self.is_main:
            log.info("validation after epoch %d: mIoU old %s new %s all %s", progress.epoch,
                     *(_fmt(self.last_metrics[k]) for k in ("miou_old", "miou_new", "miou_all")))
            self.board.scalars({f"val/{k}": v for k, v in self.last_metrics.items()}, progress.global_iteration)
            if panels:
                self.board.image("val/image_gt_prediction", panel_grid(panels), progress.global_iteration)


class CheckpointHook(Hook):
    """`last.pt` every `interval` iterations and at the end of every epoch. Collective: every rank gathers
    its RNG state; rank 0 writes."""

    def __init__(self, path: Path, interval: int, meta: Callable[[], dict], is_main: bool) -> None:
        self.path, self.interval, self.meta, self.is_main = path, interval, meta, is_main
        self.saved_at: int | None = None  # global iteration of the latest save

    def save(self, trainer: Trainer) -> None:
        state = trainer.resume_state()
        if self.is_main:
            save_checkpoint(self.path, state, self.meta())
        self.saved_at = trainer.progress.global_iteration

    def after_step(self, trainer: Trainer) -> None:
        progress = trainer.progress
        if progress.global_iteration % self.interval == 0 and progress.iteration < progress.iters_per_epoch:
            self.save(trainer)

    def after_epoch(self, trainer: Trainer) -> None:
        self.save(trainer)


class StopHook(Hook):
    """Honours a stop request (a scheduler's timeout or preemption signal) at the iteration boundary: the ranks
    agree by an all-reduce, since the signal may reach them at different iterations, then save the resume
    checkpoint together and raise `TrainingInterrupted`. At most the iteration in flight is lost."""

    def __init__(self, stop: StopRequest, checkpoint: CheckpointHook) -> None:
        self.stop, self.checkpoint = stop, checkpoint

    def after_step(self, trainer: Trainer) -> None:
        if not distributed.any_rank(self.stop.requested):
            return
        progress = trainer.progress
        if self.checkpoint.saved_at != progress.global_iteration:
            self.checkpoint.save(trainer)
        log.warning("stop requested (%s): saved the checkpoint at epoch %d iteration %d", self.stop.reason,
                    progress.epoch, progress.iteration)
        raise TrainingInterrupted(self.stop.reason or "stop requested on another rank", progress.global_iteration)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"

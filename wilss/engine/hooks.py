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
from wilss.core import duration, log
from wilss.engine.evaluate import evaluate
from wilss.engine.interrupt import EvaluationInterrupted, StopRequest, TrainingInterrupted
from wilss.engine.precision import autocast
from wilss.engine.loggers import MetricLoggers
from wilss.engine.trainer import Hook, Trainer
from wilss.metrics import summarize
from wilss.visualize import panel_grid



class ProgressHook(Hook):
    """Every `interval` iterations: losses, lr, throughput and ETA on the console and to the metric loggers.
    Reading the loss values synchronises with the device, so it happens only here, not every step.

    The throughput is the last window's; the ETA uses the average time per iteration since the first report
    (validation and checkpoints included), so it neither jumps with one slow window nor ignores the pauses.
    With `later_iterations` (the chain's steps after this one) it adds the chain's ETA at the same pace."""

    def __init__(self, interval: int, global_batch: int, board: MetricLoggers, is_main: bool,
                 later_iterations: int = 0) -> None:
        self.interval, self.global_batch, self.board, self.is_main = interval, global_batch, board, is_main
        self.later_iterations = later_iterations
        self.window_start = time.perf_counter()
        self.window_iters = 0
        self.origin: tuple[float, int] | None = None  # (time, global iteration) of the first report

    def pace(self, now: float, iteration: int, window: float) -> float:
        """Seconds per iteration for the ETA: since the first report, or the window's before there is more."""
        if self.origin is None:
            self.origin = (now, iteration)
        started, first = self.origin
        return window if iteration <= first else (now - started) / (iteration - first)

    def after_step(self, trainer: Trainer) -> None:
        self.window_iters += 1
        progress = trainer.progress
        if progress.global_iteration % self.interval and progress.iteration != progress.iters_per_epoch:
            return
        now = time.perf_counter()
        window = (now - self.window_start) / max(self.window_iters, 1)
        self.window_start, self.window_iters = now, 0
        pace = self.pace(now, progress.global_iteration, window)
        if not self.is_main:
            return
        losses = {name: float(value) for name, value in trainer.losses.items()}
        lrs = {f"lr/{group['name']}": group["lr"] for group in trainer.optimizer.param_groups}
        remaining = progress.max_iters - progress.global_iteration
        chain = f" (chain {duration((remaining + self.later_iterations) * pace)})" if self.later_iterations else ""
        log.info(
            "epoch %d/%d iter %d/%d | %s | lr %.2e | %.1f img/s | eta %s%s",
            progress.epoch + 1, progress.epochs, progress.iteration, progress.iters_per_epoch,
            " ".join(f"{name} {value:.4f}" for name, value in losses.items()),
            trainer.optimizer.param_groups[0]["lr"], self.global_batch / max(window, 1e-9),
            duration(remaining * pace), chain,
        )
        self.board.scalars({f"loss/{k}": v for k, v in losses.items()} | lrs, progress.global_iteration)
        self.board.scalars({"throughput/img_per_s": self.global_batch / max(window, 1e-9)},
                           progress.global_iteration)


class ValidationHook(Hook):
    """Every `interval` epochs and after the last: mIoU on the validation set, to the console and the metric loggers.
    A stop request ends a validation early; it is then `owed`, saved with the checkpoint, and run first thing
    after the resume (it changes no weight and draws no random number, so the training is the same)."""

    def __init__(self, interval: int, loader: DataLoader, task, eval_cfg: dict, board: MetricLoggers,
                 is_main: bool, panels: int, stop: StopRequest | None = None) -> None:
        self.interval, self.loader, self.task, self.eval_cfg = interval, loader, task, eval_cfg
        self.board, self.is_main, self.panels, self.stop = board, is_main, panels, stop
        self.last_metrics: dict = {}
        self.owed = False
        self.final_matrix = None   # the confusion matrix of the validation after the last epoch: the final weights'

    def before_train(self, trainer: Trainer) -> None:
        if self.owed:
            self.validate(trainer)

    def after_epoch(self, trainer: Trainer) -> None:
        progress = trainer.progress
        if progress.epoch % self.interval == 0 or progress.finished:
            self.validate(trainer)

    def validate(self, trainer: Trainer) -> None:
        progress = trainer.progress
        if self.is_main:
            log.info("validating after epoch %d", progress.epoch)
        try:
            matrix, panels = evaluate(trainer.method.model, self.loader, len(self.task.order), **self.eval_cfg,
                                      keep_panels=self.panels if self.is_main else 0, stop=self.stop)
        except EvaluationInterrupted as stopped:
            self.owed = True  # the stop hook saves and stops after this epoch's checkpoint
            log.warning("validation after epoch %d stopped (%s); it runs again after the restart", progress.epoch,
                        stopped.reason)
            return
        self.owed = False
        self.final_matrix = matrix if progress.finished else None
        summary = summarize(matrix.iou(), self.task.num_old, self.task.class_names())
        self.last_metrics = {key: summary[key] for key in ("miou_old", "miou_new", "miou_all")}
        if self.is_main:
            log.info("validation after epoch %d: mIoU old %s new %s all %s", progress.epoch,
                     *(_fmt(self.last_metrics[k]) for k in ("miou_old", "miou_new", "miou_all")))
            self.board.scalars({f"val/{k}": v for k, v in self.last_metrics.items()}, progress.global_iteration)
            if panels:
                self.board.image("val/image_gt_prediction", self.panel(panels, trainer.method),
                                 progress.global_iteration)

    def panel(self, panels: list[tuple], method) -> torch.Tensor:
        """Image | ground truth | prediction, plus in weak steps the pseudo-label the method learns from."""
        if not hasattr(method, "pseudo_labels"):
            return panel_grid(panels, self.task.class_names())
        device, precision = self.eval_cfg["device"], self.eval_cfg["precision"]
        images = torch.stack([image for image, _, _ in panels]).to(device)
        if self.eval_cfg["channels_last"]:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):  # as evaluated: the frozen old model may hold autocast-dtype weights
            pseudo = method.pseudo_labels(images, torch.stack([mask for _, mask, _ in panels]).to(device)).cpu()
        return panel_grid([(*panel, labels) for panel, labels in zip(panels, pseudo)], self.task.class_names(),
                          ("image", "ground truth", "prediction", "pseudo-label"))


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
    """Honours a stop request (a scheduler's timeout or preemption signal) at the iteration boundary, and at
    the end of an epoch after its validation and checkpoint: the ranks agree by an all-reduce, since the signal
    may reach them at different iterations, then save the resume checkpoint together and raise
    `TrainingInterrupted`. At most the iteration in flight is lost."""

    def __init__(self, stop: StopRequest, checkpoint: CheckpointHook) -> None:
        self.stop, self.checkpoint = stop, checkpoint

    def before_train(self, trainer: Trainer) -> None:
        """A request during the start-up (imports, data, model: seconds) stops before the first iteration; the
        checkpoint the run started from is still the resume point."""
        if self.stop.agreed(distributed.max_over_ranks):
            log.warning("stop requested (%s) during the start-up: nothing new to save", self.stop.reason)
            raise TrainingInterrupted(self.stop.reason, trainer.progress.global_iteration)

    def after_step(self, trainer: Trainer) -> None:
        self._stop_if_requested(trainer)

    def after_epoch(self, trainer: Trainer) -> None:
        self._stop_if_requested(trainer)

    def _stop_if_requested(self, trainer: Trainer) -> None:
        if not self.stop.agreed(distributed.max_over_ranks):
            return
        progress = trainer.progress
        if self.checkpoint.saved_at != progress.global_iteration:
            self.checkpoint.save(trainer)
        log.warning("stop requested (%s): saved the checkpoint at epoch %d iteration %d", self.stop.reason,
                    progress.epoch, progress.iteration)
        raise TrainingInterrupted(self.stop.reason, progress.global_iteration)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"

"""The training loop: forward, backward, step. Everything periodic (logging, validation, checkpoints) is a hook
that decides for itself when it is due (see `wilss.engine.hooks`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from wilss.data.sampler import ShardSampler
from wilss.engine.optim import PolySchedule
from wilss.engine.precision import autocast


@dataclass
class Progress:
    """Where training stands. `epoch` and `iteration` name the next batch to run, so a checkpoint of this
    state resumes exactly there; `epoch` also counts the completed epochs."""

    epochs: int
    iters_per_epoch: int
    epoch: int = 0
    iteration: int = 0
    global_iteration: int = 0

    @property
    def max_iters(self) -> int:
        return self.epochs * self.iters_per_epoch

    @property
    def finished(self) -> bool:
        return self.epoch >= self.epochs

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "iteration": self.iteration, "global_iteration": self.global_iteration}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.iteration = int(state["epoch"]), int(state["iteration"])
        self.global_iteration = int(state["global_iteration"])


class Hook:
    """Side concerns of the loop. Removing a hook changes what is logged, saved or evaluated, never what the
    model learns."""

    def before_train(self, trainer: "Trainer") -> None:
        pass

    def after_step(self, trainer: "Trainer") -> None:
        pass

    def after_epoch(self, trainer: "Trainer") -> None:
        pass


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Trainer:
    method: object
    optimizer: torch.optim.Optimizer
    schedule: PolySchedule
    scaler: torch.amp.GradScaler
    loader: DataLoader
    sampler: ShardSampler
    progress: Progress
    device: torch.device
    precision: str
    channels_last: bool
    hooks: list[Hook] = field(default_factory=list)
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    step_time: float = 0.0

    def _to_device(self, batch: dict) -> dict:
        moved = {key: value.to(self.device, non_blocking=True) for key, value in batch.items()}
        if self.channels_last:
            moved["image"] = moved["image"].contiguous(memory_format=torch.channels_last)
        return moved

    def run_step(self, batch: dict) -> None:
        with autocast(self.device, self.precision):
            losses = self.method.losses(self._to_device(batch), self.progress.epoch)
        total = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()  # every iteration, also when the scaler skipped the step (as the original)
        self.losses = {name: value.detach() for name, value in losses.items()}
        self.losses["total"] = total.detach()

    def train(self) -> None:
        progress = self.progress
        for hook in self.hooks:
            hook.before_train(self)
        while not progress.finished:
            self.sampler.set_epoch(progress.epoch, skip_batches=progress.iteration)
            tick = time.perf_counter()
            for batch in self.loader:
                self.run_step(batch)
                progress.iteration += 1
                progress.global_iteration += 1
                self.step_time, tick = time.perf_counter() - tick, time.perf_counter()
                for hook in self.hooks:
                    hook.after_step(self)
            progress.epoch += 1
            progress.iteration = 0
            for hook in self.hooks:
                hook.after_epoch(self)

    def resume_state(self) -> dict:
        """Everything needed to continue exactly: modules, optimizer, schedule, scaler, progress, every rank's
        RNG (collective: all ranks must call it)."""
        rng = [_rng_state()]
        if dist.is_initialized() and dist.get_world_size() > 1:
            rng = [None] * dist.get_world_size()
            dist.all_gather_object(rng, _rng_state())
        return {
            "modules": {name: module.state_dict() for name, module in self.method.modules().items()},
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "progress": self.progress.state_dict(),
            "rng": rng,
        }

    def load_resume_state(self, state: dict, rank: int) -> None:
        for name, module in self.method.modules().items():
            module.load_state_dict(state["modules"][name])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.progress.load_state_dict(state["progress"])
        if rank < len(state["rng"]):
            _set_rng_state(state["rng"][rank])

"""Which steps of the chain a run still has to do: what `wilss chain` and `wilss submit` would run."""

from __future__ import annotations

from omegaconf import DictConfig

from wilss.config import step_dir, task_of
from wilss.launch import slurm
from wilss.launch.submitter import step_finished


def pending_steps(cfg: DictConfig) -> list[int]:
    """Every step of the task without its final checkpoint and results (the `step` option is not used: the chain
    and submit run all steps)."""
    return [step for step in range(task_of(cfg).num_steps) if not step_finished(step_dir(cfg, step))]


def trains_from_pixel_labels(cfg: DictConfig, steps: list[int]) -> bool:
    """Step 0 (and the joint baseline at any step) starts from the ImageNet weights."""
    return bool(steps) and (steps[0] == 0 or cfg.method.name == "joint")


def runs_here(cfg: DictConfig) -> bool:
    """cluster=local, or auto without Slurm: the run starts on this machine (as `wilss chain` always does)."""
    return cfg.cluster == "local" or (cfg.cluster == "auto" and not slurm.available())

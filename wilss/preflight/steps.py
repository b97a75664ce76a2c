"""Which steps of the chain a run still has to do: what `wilss chain` and `wilss submit` would run."""

from __future__ import annotations

import shutil

from omegaconf import DictConfig

from wilss.spec import resolve


def pending_steps(cfg: DictConfig) -> list[int]:
    """Every step of the task without its final checkpoint and results (the `step` option is not used: the chain
    and submit run all steps)."""
    return [step.index for step in resolve(cfg).steps if not step.files.finished()]


def trains_from_pixel_labels(cfg: DictConfig, steps: list[int]) -> bool:
    """Whether the first pending step starts from the pretrained (ImageNet) weights: step 0, and a method whose
    config says `init: pretrained` (the joint baseline) at any step."""
    return bool(steps) and not resolve(cfg).step(steps[0]).recipe.from_previous


def runs_here(cfg: DictConfig) -> bool:
    """cluster=local, or auto without Slurm (no sbatch on PATH, as the submitter decides): the run starts on this
    machine (as `wilss chain` always does). The preflight sits below the launch layer, so it asks PATH itself."""
    return cfg.cluster == "local" or (cfg.cluster == "auto" and shutil.which("sbatch") is None)

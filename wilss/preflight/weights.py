"""The ImageNet weights step 0 starts from (`model.pretrained`): on disk (cheap) and with the expected md5."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from wilss.core import DOWNLOAD_HELP
from wilss.preflight.skip import Skipped
from wilss.preflight.steps import pending_steps, trains_from_pixel_labels


def _needed(cfg: DictConfig) -> Path | None:
    """The weights file the pending steps will load, None when none does."""
    if cfg.model.pretrained is None or not trains_from_pixel_labels(cfg, pending_steps(cfg)):
        return None
    return Path(cfg.model.pretrained)


def presence_problems(cfg: DictConfig) -> list[str]:
    path = _needed(cfg)
    if path is None:
        raise Skipped("no pending step starts from ImageNet weights")
    if path.is_file():
        return []
    return [f"model.pretrained: ImageNet weights {path} not found. {DOWNLOAD_HELP}"]


def checksum_problems(cfg: DictConfig) -> list[str]:
    path = _needed(cfg)
    if path is None:
        raise Skipped("no pending step starts from ImageNet weights")
    if cfg.model.pretrained_md5 is None:
        raise Skipped("model.pretrained_md5 is not set")
    if not path.is_file():
        raise Skipped("the weights file is missing (see the presence check)")
    from wilss.models.pretrained import md5_problem  # `wilss doctor` only: the models package loads torch

    problem = md5_problem(path, cfg.model.pretrained_md5)
    return [problem] if problem else []

"""`wilss data check`: every image and mask of a dataset decoded once, every problem reported at once.

The verdict is the class-presence index's (`wilss.data.index`): cached per split, good or bad, so the
preflight of `wilss train` and `wilss submit` reads it instead of decoding the dataset again.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from wilss.data.build import step_splits
from wilss.data.index import checked_presence, problems_message
from wilss.data.sources import Split
from wilss.data.tasks import get_task
from wilss.errors import WilssError


def step_verdicts(cfg: DictConfig, task) -> list[tuple[Split, list[str]]]:
    """Every split the step reads with its problems (none: usable), decoding only what has no cached verdict."""
    cache = Path(cfg.dataset.cache_dir)
    return [(split, checked_presence(split, cache)[1]) for split in step_splits(cfg.dataset, task)]


def check_step_data(cfg: DictConfig, task) -> None:
    """Refuse a step whose data has a problem, before anything is trained or written."""
    problems = [problems_message(split, found) for split, found in step_verdicts(cfg, task) if found]
    if problems:
        raise WilssError("\n".join(problems))


def task_splits(cfg: DictConfig, steps: list[int] | None = None) -> list[Split]:
    """Every split the given steps (default: every step) of the configured task read, each once."""
    if steps is None:
        steps = range(len(get_task(cfg.dataset.name, cfg.task.name, 0).steps))
    splits = {}
    for step in steps:
        for split in step_splits(cfg.dataset, get_task(cfg.dataset.name, cfg.task.name, step)):
            splits.setdefault(split.list_file, split)
    return list(splits.values())


def verdicts(cfg: DictConfig, steps: list[int] | None = None) -> list[tuple[Split, list[str]]]:
    """Every split of the task with its problems (none: usable), decoding only what has no cached verdict."""
    return [(split, checked_presence(split, Path(cfg.dataset.cache_dir))[1]) for split in task_splits(cfg, steps)]


def check_dataset(cfg: DictConfig, steps: list[int] | None = None) -> list[str]:
    """One line per split checked (of the given steps, default every step); raises with every problem."""
    results = verdicts(cfg, steps)
    failures = [problems_message(split, problems, limit=None) for split, problems in results if problems]
    if failures:
        raise WilssError("\n".join(failures) + "\nFix or replace those files, or remove their lines from the "
                         "split list, then run `wilss data check` again.")
    return [f"ok: {len(split)} samples of '{split.list_file}'" for split, _ in results]

"""The dataset a run reads: its layout and split lists (cheap), and each pending step's training subset against
the sizes of the original's published index files (a scan of every mask the first time, cached afterwards). What
is published comes from the dataset's registry entry (`DatasetSpec.published`)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from wilss.data.datasets import DATASETS, DatasetSpec
from wilss.data.index import MAX_REPORTED_PROBLEMS, checked_presence
from wilss.data.sources import Split
from wilss.data.tasks import get_task
from wilss.errors import WilssError
from wilss.preflight.skip import Skipped
from wilss.preflight.steps import pending_steps

DRAWN_LATER = "the synthetic dataset is drawn at the run's start, into dataset.root, and checked then"
LIST_FIX = ("write them with `wilss data prepare voc` (or `coco-voc`) from the official archives, or use the lists "
            "that ship with WILSON/MiB")


def _spec(cfg: DictConfig) -> DatasetSpec:
    return DATASETS.get(cfg.dataset.name)


def _step_splits(cfg: DictConfig, step: int) -> list[Split]:
    """The splits a step reads, from the dataset's registry entry (as `wilss.data.build.step_splits`, which
    imports torch: `wilss submit` runs these checks on a login node without it)."""
    task = get_task(cfg.dataset.name, cfg.task.name, step)
    return [source.split for source in _spec(cfg).sources(cfg.dataset, task).values()]


def _splits(cfg: DictConfig) -> list[Split]:
    """Every split the pending steps read, each once; raises WilssError naming the folder or list."""
    splits: dict[Path, Split] = {}
    for step in pending_steps(cfg):
        for split in _step_splits(cfg, step):
            splits.setdefault(split.list_file, split)
    return list(splits.values())


def _missing_files(split: Split) -> list[Path]:
    return [path for pair in zip(split.images, split.masks) for path in pair if not path.is_file()]


def _not_drawn_yet(cfg: DictConfig) -> bool:
    return _spec(cfg).drawn and not Path(cfg.dataset.root).is_dir()


def layout_problems(cfg: DictConfig) -> list[str]:
    if _not_drawn_yet(cfg):
        raise Skipped(DRAWN_LATER)
    published = _spec(cfg).published.lines
    problems = []
    for split in _splits(cfg):
        expected = published.get(f"{split.list_file.parent.name}/{split.list_file.name}")
        if expected is not None and len(split) != expected:
            problems.append(f"{split.list_file}: {len(split)} entries, the published {split.name} split has "
                            f"{expected}: {LIST_FIX}")
        missing = _missing_files(split)
        if missing:
            problems.append(f"{split.list_file}: {len(missing)} listed file(s) do not exist, e.g. {missing[0]}: "
                            f"complete the download or fix the list")
    return problems


def decode_problems(cfg: DictConfig) -> list[str]:
    """Every image and mask the pending steps read decodes and fits (the verdict of `wilss data check`, cached:
    only a dataset never checked is decoded, once). The first few problems of each split, one line each."""
    if _not_drawn_yet(cfg):
        raise Skipped(DRAWN_LATER)
    cache = Path(cfg.dataset.cache_dir)
    problems = []
    for split in _splits(cfg):
        found = checked_presence(split, cache)[1]
        problems += found[:MAX_REPORTED_PROBLEMS]
        if len(found) > MAX_REPORTED_PROBLEMS:
            problems.append(f"{split.list_file}: {len(found) - MAX_REPORTED_PROBLEMS} more unusable samples; "
                            "`wilss data check` lists them all")
    return problems


def subset_problems(cfg: DictConfig) -> list[str]:
    from wilss.data.build import subset_size  # `wilss doctor` only: building the subset loads torch

    data, problems = cfg.dataset, []
    published = _spec(cfg).published.subsets
    if not published:
        raise Skipped(f"no published subset sizes for dataset={cfg.dataset.name}")
    try:
        unreadable = any(_missing_files(split) for split in _splits(cfg))
    except WilssError:
        unreadable = True
    if unreadable:  # the layout check names the missing folder or files; a count would only repeat it
        raise Skipped("the dataset's files are not all there (see the layout check)")
    for step in pending_steps(cfg):
        expected = published.get((cfg.task.name, bool(cfg.overlap), step))
        if expected is None:
            continue  # no published index for this task (15-1, 10-2)
        print(f"doctor: counting the step-{step} training images (a scan of the masks the first time, cached in "
              f"{data.cache_dir})", flush=True)
        try:
            found = subset_size(data, get_task(data.name, cfg.task.name, step), bool(cfg.overlap))
        except WilssError as err:
            problems.append(str(err))
            break
        if found != expected:
            problems.append(f"step {step} of {data.name} {cfg.task.name}{' overlap' if cfg.overlap else ''} has "
                            f"{found} training images, the original's index {expected}: the masks or split list "
                            f"differ from the published ones (SegmentationClassAug with ids 0-20, 255 void); "
                            f"{LIST_FIX}")
    return problems

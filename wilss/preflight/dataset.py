"""The dataset a run reads: its layout and split lists (cheap), and each pending step's training subset against
the sizes of the original's published index files (a scan of every mask the first time, cached afterwards)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from wilss.data.build import subset_size
from wilss.data.sources import Split, coco_split, voc_split
from wilss.data.tasks import get_task
from wilss.errors import WilssError
from wilss.preflight.steps import pending_steps

# Lines of the published split lists: VOC's train_aug / val, COCO's train2017 / val2017 ids.
PUBLISHED_LISTS = {("voc", "train"): 10582, ("voc", "val"): 1449, ("coco", "train"): 118287, ("coco", "val"): 5000}
# Training images of each step in the original's index files: (dataset, task, overlap, step) -> images.
PUBLISHED_SUBSETS = {
    ("voc", "15-5", False, 0): 8437, ("voc", "15-5", True, 0): 9568,
    ("voc", "15-5", False, 1): 2145, ("voc", "15-5", True, 1): 2145,
    ("voc", "10-10", False, 0): 3706, ("voc", "10-10", True, 0): 6139,
    ("voc", "10-10", False, 1): 6876, ("voc", "10-10", True, 1): 6876,
    ("coco-voc", "voc", False, 0): 23274, ("coco-voc", "voc", False, 1): 10582,
}
LIST_FIX = "use the lists that ship with WILSON/MiB (README, 'Real data')"


def _splits(data: DictConfig) -> list[tuple[str, Split]]:
    """(layout, split) of every split the dataset reads; raises WilssError naming the folder or list."""
    if data.name == "coco-voc":
        return [("coco", coco_split(data.coco_root, split)) for split in ("train", "val")] + \
               [("voc", voc_split(data.voc_root, split, "dataset.voc_root")) for split in ("train", "val")]
    return [("voc", voc_split(data.root, split)) for split in ("train", "val")]


def _missing_files(split: Split) -> list[Path]:
    return [path for pair in zip(split.images, split.masks) for path in pair if not path.is_file()]


def layout_problems(cfg: DictConfig) -> list[str]:
    data = cfg.dataset
    if data.name == "synthetic" and not Path(data.root).is_dir():
        return []  # drawn on first use, into the output directory (checked there)
    problems = []
    for layout, split in _splits(data):
        expected = PUBLISHED_LISTS[layout, split.name]
        if data.name != "synthetic" and len(split) != expected:
            problems.append(f"{split.list_file}: {len(split)} entries, the published {split.name} split has "
                            f"{expected}: {LIST_FIX}")
        missing = _missing_files(split)
        if missing:
            problems.append(f"{split.list_file}: {len(missing)} listed file(s) do not exist, e.g. {missing[0]}: "
                            f"complete the download or fix the list")
    return problems


def subset_problems(cfg: DictConfig) -> list[str]:
    data, problems = cfg.dataset, []
    if data.name == "synthetic":
        return []  # no published index
    try:
        unreadable = any(_missing_files(split) for _, split in _splits(data))
    except WilssError:
        unreadable = True
    if unreadable:
        return []  # the layout check names the missing folder or files; a count would only repeat it
    for step in pending_steps(cfg):
        expected = PUBLISHED_SUBSETS.get((data.name, cfg.task.name, bool(cfg.overlap), step))
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

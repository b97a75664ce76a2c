"""Readers of the on-disk layouts: Pascal VOC and COCO with COCO-Stuff-derived masks (docs/method.md, "Tasks and data").

A reader only lists (image, mask) file pairs of one split; it never opens the files, so listing is cheap and
every problem with the files themselves is reported by the index scan (`wilss.data.index`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wilss.errors import WilssError

VOC_SPLIT_FILES = {"train": "train_aug.txt", "val": "val.txt"}
COCO_SPLIT_DIRS = {"train": "train2017", "val": "val2017"}


@dataclass(frozen=True)
class Split:
    """The file pairs of one split of one on-disk dataset, and the raw mask ids it may contain."""

    name: str
    images: tuple[Path, ...]
    masks: tuple[Path, ...]
    list_file: Path
    valid_ids: frozenset[int]

    def __len__(self) -> int:
        return len(self.images)


def _require_dir(root: Path, option: str) -> Path:
    if not root.is_dir():
        raise WilssError(
            f"dataset root '{root}' does not exist (option {option}). Point it at the dataset folder, "
            "or run the demo on the synthetic data (`dataset=synthetic`), which is generated on first use."
        )
    return root


def _read_list(path: Path, option: str) -> list[str]:
    if not path.is_file():
        raise WilssError(
            f"split list '{path}' is missing (dataset root from option {option}). "
            "The VOC layout needs splits/train_aug.txt and splits/val.txt (see README, 'Real data')."
        )
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def voc_split(root: Path, split: str, option: str = "dataset.root") -> Split:
    """VOC layout: `splits/<list>.txt` lines '/JPEGImages/<id>.jpg /SegmentationClassAug/<id>.png'."""
    root = _require_dir(Path(root), option)
    list_file = root / "splits" / VOC_SPLIT_FILES[split]
    images, masks = [], []
    for number, line in enumerate(_read_list(list_file, option), start=1):
        parts = line.split()
        if len(parts) != 2:
            raise WilssError(
                f"{list_file}:{number}: expected two paths '<image> <mask>', got '{line}'. "
                "Fix the line or regenerate the list."
            )
        images.append(root / parts[0].lstrip("/"))
        masks.append(root / parts[1].lstrip("/"))
    return Split(split, tuple(images), tuple(masks), list_file, frozenset(range(21)) | {255})


def coco_split(root: Path, split: str, option: str = "dataset.coco_root") -> Split:
    """COCO layout: `split/<split>.txt` image ids; `images/<dir>/<id>.jpg`; `annotations/<dir>/<id>.png`.

    Masks hold COCO ids 1..91 for things (COCO-Stuff thing id + 1), 0 for stuff and 255 for unlabelled, as
    written by `scripts/prepare_coco.py`.
    """
    root = _require_dir(Path(root), option)
    list_file = root / "split" / f"{split}.txt"
    folder = COCO_SPLIT_DIRS[split]
    ids = _read_list(list_file, option)
    images = tuple(root / "images" / folder / f"{i}.jpg" for i in ids)
    masks = tuple(root / "annotations" / folder / f"{i}.png" for i in ids)
    return Split(split, images, masks, list_file, frozenset(range(92)) | {255})

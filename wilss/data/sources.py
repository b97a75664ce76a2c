"""Readers of the on-disk layouts: Pascal VOC and COCO with COCO-Stuff-derived masks (docs/method.md, "Tasks and data").

A reader only lists (image, mask) file pairs of one split; it never opens the files, so listing is cheap and
every problem with the files themselves is reported by the index scan (`wilss.data.index`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wilss.data.validate import confined, drop_duplicates, list_id, read_list_lines
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
    if root.is_file():
        raise WilssError(f"dataset root '{root}' is a file, not a folder (option {option}). Point the option at "
                         "the folder that holds the dataset (unpack an archive first: `wilss data prepare`).")
    if not root.is_dir():
        raise WilssError(
            f"dataset root '{root}' does not exist (option {option}). Point it at the dataset folder (made by "
            "`wilss data prepare`), or run the demo on the synthetic data (`dataset=synthetic`), which is "
            "generated on first use."
        )
    return root


def _read_list(path: Path, option: str) -> list[tuple[int, str]]:
    if path.is_dir():
        raise WilssError(f"split list '{path}' is a folder, not a text file (dataset root from option {option}). "
                         "Move the folder away and put the list there (see docs/data.md; `wilss data prepare` "
                         "writes it).")
    if not path.is_file():
        raise WilssError(
            f"split list '{path}' is missing (dataset root from option {option}). "
            "The VOC layout needs splits/train_aug.txt and splits/val.txt (see docs/data.md; "
            "`wilss data prepare` writes them)."
        )
    return read_list_lines(path, option)


def _voc_entry(root: Path, line: str, where: str) -> tuple[Path, Path]:
    """A VOC list line: '<image> <mask>' paths (MiB/WILSON lists) or a bare image id (VOC's own
    ImageSets/Segmentation lists), which names JPEGImages/<id>.jpg and SegmentationClassAug/<id>.png."""
    parts = line.split()
    if len(parts) == 1 or all("/" not in part and not Path(part).suffix for part in parts):  # '2007 000003'
        image_id = list_id(line, where)
        parts = [f"JPEGImages/{image_id}.jpg", f"SegmentationClassAug/{image_id}.png"]
    if len(parts) != 2:
        raise WilssError(f"{where}: expected an image id or two paths '<image> <mask>', got '{line}'. "
                         "Fix the line or regenerate the list with `wilss data prepare voc`.")
    return confined(root, parts[0], where), confined(root, parts[1], where)


def voc_split(root: Path, split: str, option: str = "dataset.root") -> Split:
    """VOC layout: `splits/<list>.txt`, lines '/JPEGImages/<id>.jpg /SegmentationClassAug/<id>.png' or ids."""
    root = _require_dir(Path(root), option)
    list_file = root / "splits" / VOC_SPLIT_FILES[split]
    entries = [(number, _voc_entry(root, line, f"{list_file}:{number}"))
               for number, line in _read_list(list_file, option)]
    pairs = drop_duplicates(entries, list_file)
    return Split(split, tuple(image for image, _ in pairs), tuple(mask for _, mask in pairs), list_file,
                 frozenset(range(21)) | {255})


def coco_split(root: Path, split: str, option: str = "dataset.coco_root") -> Split:
    """COCO layout: `split/<split>.txt` image ids; `images/<dir>/<id>.jpg`; `annotations/<dir>/<id>.png`.

    Masks hold COCO ids 1..91 for things (COCO-Stuff thing id + 1), 0 for stuff and 255 for unlabelled, as
    written by `wilss data prepare coco-voc`.
    """
    root = _require_dir(Path(root), option)
    list_file = root / "split" / f"{split}.txt"
    folder = COCO_SPLIT_DIRS[split]
    entries = []
    for number, line in _read_list(list_file, option):
        where = f"{list_file}:{number}"
        image_id = list_id(line, where)
        entries.append((number, (confined(root, f"images/{folder}/{image_id}.jpg", where),
                                 confined(root, f"annotations/{folder}/{image_id}.png", where))))
    pairs = drop_duplicates(entries, list_file)
    return Split(split, tuple(image for image, _ in pairs), tuple(mask for _, mask in pairs), list_file,
                 frozenset(range(92)) | {255})

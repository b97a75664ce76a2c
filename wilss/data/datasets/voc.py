"""Pascal VOC 2012 with the SBD masks, in the VOC layout (`dataset.root`)."""

from __future__ import annotations

from pathlib import Path

from wilss.data.datasets.registry import DATASETS, DatasetSpec, Published, Source
from wilss.data.sources import voc_split

# The lines of train_aug / val and the training images of each step in the original's index files.
VOC_LINES = {"splits/train_aug.txt": 10582, "splits/val.txt": 1449}
VOC_PUBLISHED = Published(VOC_LINES, {
    ("15-5", False, 0): 8437, ("15-5", True, 0): 9568, ("15-5", False, 1): 2145, ("15-5", True, 1): 2145,
    ("10-10", False, 0): 3706, ("10-10", True, 0): 6139, ("10-10", False, 1): 6876, ("10-10", True, 1): 6876,
})


def voc_sources(root: Path) -> dict[str, Source]:
    return {"train": Source(voc_split(root, "train")), "val": Source(voc_split(root, "val"))}


DATASETS.register("voc")(DatasetSpec("voc", lambda cfg, task: voc_sources(Path(cfg.root)),
                                     published=VOC_PUBLISHED))

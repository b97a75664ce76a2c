"""COCO 2017 with COCO-Stuff maps in the kit's COCO layout, for COCO-to-VOC (with the VOC side, see `voc`).

    ROOT/images/{train2017,val2017}/<id>.jpg
    ROOT/annotations/{train2017,val2017}/<id>.png   COCO ids: things 1..91, stuff 0, unlabelled 255
    ROOT/split/{train,val}.txt                       image ids, one per line

COCO-Stuff's maps number things 0..90 and stuff 91..181, with 255 unlabelled; a thing's COCO id is its map
id + 1. The table is uint8, so 255 stays 255 (the original's int8 table cannot hold it). Both splits are
converted (the original converted only train). The per-step subsets of COCO-to-VOC are derived from the
masks when training, so no index file is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wilss.data.prepare.archives import COCO_STUFF, COCO_TRAIN, COCO_VAL, as_folder
from wilss.data.prepare.common import convert_all, refuse_problems, write_list
from wilss.data.prepare.files import link_or_copy, publish, work_folder
from wilss.data.sources import COCO_SPLIT_DIRS
from wilss.data.validate import open_mask
from wilss.core import progress

THINGS, STUFF_END, UNLABELLED = 91, 182, 255


def stuff_to_coco_table() -> np.ndarray:
    """COCO-Stuff map id -> the kit's COCO id (ids no map uses become unlabelled)."""
    table = np.full(256, UNLABELLED, dtype=np.uint8)
    table[:THINGS] = np.arange(1, THINGS + 1)
    table[THINGS:STUFF_END] = 0
    return table


def write_coco_root(work: Path, images: dict[str, Path], maps: Path, workers: int | None) -> dict[str, int]:
    """Images, converted maps and split lists of every split in `work`; the number of samples per list."""
    table = stuff_to_coco_table()
    counts, problems = {}, []
    for split, folder in COCO_SPLIT_DIRS.items():
        ids = sorted(path.stem for path in images[split].glob("*.jpg"))
        jobs = [(maps / folder / f"{i}.png", work / "annotations" / folder / f"{i}.png") for i in ids]
        problems += convert_all(jobs, lambda source: table[open_mask(source)], f"converting {folder} maps", workers)
        for image_id in progress(ids, len(ids), f"placing {folder} images"):
            link_or_copy(images[split] / f"{image_id}.jpg", work / "images" / folder / f"{image_id}.jpg")
        write_list(work / "split" / f"{split}.txt", ids)
        counts[split] = len(ids)
    refuse_problems(problems, "COCO-Stuff maps are missing or damaged",
                    "Re-extract or download stuffthingmaps_trainval2017.zip again (see docs/data.md).")
    return counts


def prepare_coco(archives: Path, out: Path, check_md5: bool = True, fetch: bool = False,
                 workers: int | None = None) -> dict[str, int]:
    work = work_folder(out)
    images = {split: as_folder(archive, archives, work, ("",), check_md5, fetch)
              for split, archive in (("train", COCO_TRAIN), ("val", COCO_VAL))}
    maps = as_folder(COCO_STUFF, archives, work, tuple(f"{folder}/" for folder in COCO_SPLIT_DIRS.values()),
                     check_md5, fetch)
    counts = write_coco_root(work, images, maps, workers)
    publish(work, out)
    return counts

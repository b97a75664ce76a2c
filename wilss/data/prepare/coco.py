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

from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from wilss.data.datasets.coco_voc import PUBLISHED
from wilss.data.prepare.archives import COCO_STUFF, COCO_TRAIN, COCO_VAL, Fetch, Unpacked, locate, unpack
from wilss.data.prepare.common import Count, convert_all, refuse_counts, refuse_problems, write_list
from wilss.data.prepare.files import link_or_copy, require_new, work_folder
from wilss.data.sources import COCO_SPLIT_DIRS
from wilss.data.validate import open_mask
from wilss.core import progress

THINGS, STUFF_END, UNLABELLED = 91, 182, 255
IMAGES = {"train": COCO_TRAIN, "val": COCO_VAL}


def stuff_to_coco_table() -> np.ndarray:
    """COCO-Stuff map id -> the kit's COCO id (ids no map uses become unlabelled)."""
    table = np.full(256, UNLABELLED, dtype=np.uint8)
    table[:THINGS] = np.arange(1, THINGS + 1)
    table[THINGS:STUFF_END] = 0
    return table


def coco_ids(images: dict[str, Unpacked], maps: Unpacked, subset: bool) -> dict[str, list[str]]:
    """The image ids of each split (sorted); refused when a split has no image or map, or (without `subset`)
    not the official number."""
    ids = {split: sorted(path.stem for path in source.folder.glob("*.jpg")) for split, source in images.items()}
    counts = []
    for split, folder in COCO_SPLIT_DIRS.items():
        official = PUBLISHED.lines[f"split/{split}.txt"]
        found_maps = sum(1 for _ in maps.folder.glob(f"{folder}/*.png"))
        counts += [Count(f"images in '{images[split].given}'", len(ids[split]), official, True),
                   Count(f"{folder} maps in '{maps.given}'", found_maps, official, True)]
    refuse_counts(counts, subset)
    return ids


def write_coco_root(work: Path, images: dict[str, Unpacked], maps: Unpacked, subset: bool,
                    workers: int | None) -> dict[str, int]:
    """Images, converted maps and split lists of every split in `work`; the number of samples per list."""
    table = stuff_to_coco_table()
    problems = []
    ids = coco_ids(images, maps, subset)
    for split, folder in COCO_SPLIT_DIRS.items():
        jobs = [(maps.folder / folder / f"{i}.png", work / "annotations" / folder / f"{i}.png") for i in ids[split]]
        problems += convert_all(jobs, lambda source: table[open_mask(source)], f"converting {folder} maps",
                                maps.name, workers)
        for image_id in progress(ids[split], len(ids[split]), f"placing {folder} images"):
            link_or_copy(images[split].folder / f"{image_id}.jpg", work / "images" / folder / f"{image_id}.jpg")
        write_list(work / "split" / f"{split}.txt", ids[split])
    refuse_problems(problems, "COCO-Stuff maps are missing or damaged",
                    "Re-extract or download stuffthingmaps_trainval2017.zip again (see docs/data.md).")
    return {split: len(found) for split, found in ids.items()}


def prepare_coco(given: dict, out: Path, subset: bool, workers: int | None) -> dict[str, int]:
    """The COCO layout of `out` in its work folder (published with the command's other datasets)."""
    work = work_folder(out)
    images = {split: unpack(archive, given[archive], work, ("",)) for split, archive in IMAGES.items()}
    maps = unpack(COCO_STUFF, given[COCO_STUFF], work, tuple(f"{folder}/" for folder in COCO_SPLIT_DIRS.values()))
    return write_coco_root(work, images, maps, subset, workers)


def plan_coco(fetch: Fetch, out: Path, option: str = "--out", subset: bool = False,
              workers: int | None = None) -> Callable[[], dict[str, int]]:
    """Every input checked before any work; the prepare itself, to run once every plan of the command is made."""
    require_new(out, option)
    given = {archive: locate(archive, fetch) for archive in (COCO_TRAIN, COCO_VAL, COCO_STUFF)}
    return partial(prepare_coco, given, Path(out), subset, workers)

"""COCO-to-VOC: step 0 on COCO (`dataset.coco_root`) with the 60 classes that are not in VOC; later steps train
and validate on VOC (`dataset.voc_root`) relabelled to COCO ids on the fly (the original converted only the
train masks; docs/fidelity.md), and are tested on COCO val2017 with every class. Disjoint by construction."""

from __future__ import annotations

import numpy as np

from wilss.data.class_orders import VOC_TO_COCO, Task
from wilss.data.datasets.registry import DATASETS, DatasetSpec, Published, Source
from wilss.data.datasets.voc import VOC_LINES
from wilss.data.sources import coco_split, voc_split


def _voc_as_coco() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint8)
    for voc_id, coco_id in VOC_TO_COCO.items():
        table[voc_id] = coco_id
    return table


def coco_voc_sources(cfg, task: Task) -> dict[str, Source]:
    if task.step == 0:
        return {"train": Source(coco_split(cfg.coco_root, "train")), "val": Source(coco_split(cfg.coco_root, "val"))}
    as_coco = _voc_as_coco()
    return {
        "train": Source(voc_split(cfg.voc_root, "train", "dataset.voc_root"), as_coco),
        "val": Source(voc_split(cfg.voc_root, "val", "dataset.voc_root"), as_coco),
        "test": Source(coco_split(cfg.coco_root, "val")),
    }


# COCO's train2017 / val2017 ids, VOC's lists, and the original's index sizes of the two steps.
PUBLISHED = Published({"split/train.txt": 118287, "split/val.txt": 5000} | VOC_LINES,
                      {("voc", False, 0): 23274, ("voc", False, 1): 10582})
DATASETS.register("coco-voc")(DatasetSpec("coco", coco_voc_sources, overlap=False, published=PUBLISHED,
                                          root_option="coco_root"))

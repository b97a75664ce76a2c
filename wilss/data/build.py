"""Assemble the datasets of one step from the dataset config: which on-disk split, which relabelling,
which subset, which transform."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wilss.data import synthetic
from wilss.data.dataset import SegmentationDataset
from wilss.data.index import load_presence
from wilss.data.labels import image_label_matrix, label_lut, step_subset
from wilss.data.sources import Split, coco_split, voc_split
from wilss.data.tasks import VOC_TO_COCO, Task
from wilss.data.transforms import eval_transform, train_transform
from wilss.errors import WilssError

IDENTITY = np.arange(256, dtype=np.uint8)


def _voc_as_coco() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint8)
    for voc_id, coco_id in VOC_TO_COCO.items():
        table[voc_id] = coco_id
    return table


@dataclass(frozen=True)
class Source:
    """One split on disk plus the table that turns its raw ids into the task's class ids."""

    split: Split
    id_map: np.ndarray = field(default_factory=lambda: IDENTITY)

    def presence(self, cache_dir: Path) -> np.ndarray:
        raw = load_presence(self.split, cache_dir)
        mapped = np.zeros_like(raw)
        for raw_id in np.flatnonzero(raw.any(axis=0)):
            mapped[:, self.id_map[raw_id]] |= raw[:, raw_id]
        return mapped


def _voc_root(cfg) -> Path:
    if cfg.name == "synthetic":
        gen = cfg.generate
        return synthetic.ensure_synthetic(Path(cfg.root), n_train=gen.train, n_val=gen.val, size=gen.size,
                                          seed=gen.seed)
    return Path(cfg.root)


def _sources(cfg, task: Task) -> dict[str, Source]:
    """Named sources of the step: 'train', 'val' (validated during training) and optionally 'test'."""
    if cfg.name in ("voc", "synthetic"):
        root = _voc_root(cfg)
        return {"train": Source(voc_split(root, "train")), "val": Source(voc_split(root, "val"))}
    if cfg.name == "coco-voc":
        if task.step == 0:
            return {"train": Source(coco_split(cfg.coco_root, "train")), "val": Source(coco_split(cfg.coco_root, "val"))}
        # Later steps train and validate on VOC relabelled to COCO ids on the fly (the original converted only
        # the train masks, §12.1.8) and are tested on COCO val2017 with every class.
        as_coco = _voc_as_coco()
        return {
            "train": Source(voc_split(cfg.voc_root, "train", "dataset.voc_root"), as_coco),
            "val": Source(voc_split(cfg.voc_root, "val", "dataset.voc_root"), as_coco),
            "test": Source(coco_split(cfg.coco_root, "val")),
        }
    raise WilssError(f"unknown dataset '{cfg.name}' (option dataset=...); choose voc, coco-voc or synthetic.")


def build_train_dataset(cfg, task: Task, overlap: bool, void_as_background: bool = True) -> SegmentationDataset:
    """The current step's training subset, with train-time label masking and augmentation."""
    source = _sources(cfg, task)["train"]
    presence = source.presence(Path(cfg.cache_dir))
    keep = step_subset(presence, task, overlap)
    if len(keep) == 0:
        raise WilssError(
            f"no training image of '{source.split.list_file}' shows a class of step {task.step} of task "
            f"'{task.name}' ({list(task.new_classes)}); check the dataset and the task."
        )
    lut = label_lut(task, train=True, void_as_background=void_as_background)[source.id_map]
    labels = image_label_matrix(presence[keep], task, train=True)
    return SegmentationDataset(
        [source.split.images[i] for i in keep], [source.split.masks[i] for i in keep], lut, labels,
        train_transform(cfg.crop_size), name="train",
    )


def build_eval_datasets(cfg, task: Task, mode: str) -> dict[str, SegmentationDataset]:
    """Every evaluation split of the step (whole split, every step), with the evaluation label mapping."""
    datasets = {}
    for name, source in _sources(cfg, task).items():
        if name == "train":
            continue
        presence = source.presence(Path(cfg.cache_dir))
        datasets[name] = SegmentationDataset(
            list(source.split.images), list(source.split.masks),
            label_lut(task, train=False)[source.id_map], image_label_matrix(presence, task, train=False),
            eval_transform(cfg.crop_size_val, mode), name=name,
        )
    return datasets


def subset_size(cfg, task: Task, overlap: bool) -> int:
    """Number of training images of the step (the index sizes of §13), without building a dataset."""
    source = _sources(cfg, task)["train"]
    return len(step_subset(source.presence(Path(cfg.cache_dir)), task, overlap))

"""Assemble the datasets of one step from the dataset config: which on-disk split, which relabelling,
which subset, which transform."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from wilss.core import log
from wilss.data.dataset import ConcatenatedDataset, SegmentationDataset
from wilss.data.index import load_presence
from wilss.data.labels import image_label_matrix, label_lut, step_subset
from wilss.data.replay import build_replay_dataset
from wilss.data.sampler import MixedShardSampler, ShardSampler
from wilss.data.sources import Split, coco_split, voc_split
from wilss.data.tasks import Task, VOC_TO_COCO
from wilss.data.transforms import eval_transform, train_transform
from wilss.data.web import build_web_dataset
from wilss.errors import WilssError
from wilss.synthetic.voc import ensure_synthetic

EPOCH_LENGTHS = ("step_images", "step_data", "released")

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
        return ensure_synthetic(Path(cfg.root), n_train=gen.train, n_val=gen.val, size=gen.size,
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


def step_splits(cfg, task: Task) -> list[Split]:
    """Every on-disk split a step of `task` reads (what `wilss data check` and the preflight of a run check)."""
    return [source.split for source in _sources(cfg, task).values()]


def build_train_dataset(cfg, task: Task, overlap: bool, void_as_background: bool = True,
                        pixel_labels: bool = True) -> SegmentationDataset:
    """The current step's training subset, with train-time label masking and augmentation (without masks for
    the weak steps: `pixel_labels=False`)."""
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
        train_transform(cfg.crop_size), name="train", pixel_labels=pixel_labels,
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


def replay_batch_split(local_batch: int, ratio: float) -> tuple[int, int]:
    """(new-class, replay) items of every per-rank batch."""
    if not 0 < ratio < 1:
        raise WilssError(f"replay.ratio={ratio}: choose the replay share of a batch strictly between 0 and 1.")
    replay = round(local_batch * ratio)
    if not 0 < replay < local_batch:
        raise WilssError(f"a per-rank batch of {local_batch} images (train.batch_size / processes) cannot hold both "
                         f"new-class and replay images at replay.ratio={ratio}; raise train.batch_size.")
    return local_batch - replay, replay


def replay_epoch_size(sizes: tuple[int, int], split: tuple[int, int], world_size: int, epoch_length: str) -> int:
    """The number of samples an epoch counts (iterations per epoch = this // global batch).

    `step_images`: one pass of the step's own images at their share of the batch, so every image of the step
    is seen once per epoch, as without replay, and the epoch does not depend on the replay set's size (the
    iterations grow by 1 / (1 − replay.ratio)). `step_data`: the iterations per epoch — hence max_iters and the
    constant-lr phase of `pseudo_ep` epochs — of the same run without replay, so it sees fewer of the step's
    images. `released`: one pass of the larger set, so the epoch grows with the replay set, as in the released
    sampler (§9.3, §12.2.13); equal to `step_images` while the replay set is the smaller one. Each stream
    continues across epoch boundaries."""
    if epoch_length == "step_data":
        return sizes[0]
    passes_of = [-(-size // (count * world_size)) for size, count in zip(sizes, split)]  # batches per pass
    if epoch_length == "step_images":
        return passes_of[0] * sum(split) * world_size
    if epoch_length == "released":
        return max(passes_of) * sum(split) * world_size
    raise WilssError(f"replay.epoch_length={epoch_length}: choose one of {EPOCH_LENGTHS}.")


def _with_replay(cfg, task: Task, new_data: Dataset, transform, rank: int, world_size: int
                 ) -> tuple[Dataset, ShardSampler]:
    replay = build_replay_dataset(cfg.replay, task, transform)
    sizes = (len(new_data), len(replay))
    split = replay_batch_split(cfg.train.batch_size // world_size, float(cfg.replay.ratio))
    sampler = MixedShardSampler(sizes, split, rank, world_size, cfg.seed,
                                replay_epoch_size(sizes, split, world_size, cfg.replay.epoch_length),
                                cfg.train.max_iters_per_epoch)
    log.info("replay: %d images from '%s'; every per-rank batch holds %d new-class + %d replay images",
             len(replay), cfg.replay.path, *split)
    return ConcatenatedDataset([new_data, replay]), sampler


def build_training_stream(cfg, task: Task, weak: bool, rank: int, world_size: int) -> tuple[Dataset, ShardSampler]:
    """The step's training data and its sampler, from the root config.

    Fully supervised steps (step 0, the joint baseline) train on the dataset's pixel labels. Weak steps learn
    the new classes from the dataset's images or, with web.enabled, from selected web images (image-level
    labels only, no masks); with replay.enabled every per-rank batch also carries replay images (§9.3)."""
    requested = [name for name in ("replay", "web") if cfg[name].enabled]
    if requested and not weak:
        log.info("%s: used by weak incremental steps only; this step trains on the dataset's pixel labels",
                 " and ".join(f"{name}.enabled" for name in requested))
    transform = train_transform(cfg.dataset.crop_size)
    if weak and cfg.web.enabled:
        new_data = build_web_dataset(cfg.web, task, transform)
    else:
        new_data = build_train_dataset(cfg.dataset, task, cfg.overlap, cfg.train.void_as_background,
                                       pixel_labels=not weak)
    if weak and cfg.replay.enabled:
        dataset, sampler = _with_replay(cfg, task, new_data, transform, rank, world_size)
    else:
        dataset, sampler = new_data, ShardSampler(len(new_data), rank, world_size, cfg.seed, cfg.train.batch_size,
                                                  cfg.train.max_iters_per_epoch)
    if sampler.batches_per_epoch() == 0:
        raise WilssError(f"the step's {len(new_data)} training images make no batch of train.batch_size="
                         f"{cfg.train.batch_size}; lower the batch size.")
    return dataset, sampler

"""Assemble the datasets of one step from the dataset config: which on-disk split, which relabelling,
which subset, which transform."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from wilss.core import log
from wilss.data.dataset import ConcatenatedDataset, SegmentationDataset
from wilss.data.datasets import DATASETS, Source
from wilss.data.labels import image_label_matrix, label_lut, step_subset
from wilss.data.replay import build_replay_dataset
from wilss.data.sampler import MixedShardSampler, ShardSampler
from wilss.data.sources import Split
from wilss.data.tasks import Task
from wilss.data.transforms import eval_transform, train_transform
from wilss.data.web import build_web_dataset
from wilss.errors import WilssError

EPOCH_LENGTHS = ("step_images", "step_data", "released")


def _sources(cfg, task: Task) -> dict[str, Source]:
    """Named sources of the step: 'train', 'val' (validated during training) and optionally 'test'."""
    return DATASETS.get(cfg.name).sources(cfg, task)


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
    """Number of training images of the step (the index sizes of docs/method.md, "Reference numbers"), without building a dataset."""
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
    sampler (docs/web_wilss.md); equal to `step_images` while the replay set is the smaller one. Each stream
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
    labels only, no masks); with replay.enabled every per-rank batch also carries replay images (docs/method.md, "Web-WILSS")."""
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

"""Evaluation over an exactly sharded dataset: each rank counts its own images, confusion matrices are summed."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader

from wilss.core import ProgressLine
from wilss.data.dataset import SegmentationDataset
from wilss.data.sampler import ShardSampler
from wilss.distributed import DistInfo, all_reduce_sum, max_over_ranks
from wilss.engine.interrupt import EvaluationInterrupted, StopRequest
from wilss.engine.loader import StopSafeLoader
from wilss.engine.precision import autocast
from wilss.metrics import ConfusionMatrix


def eval_loader(dataset: SegmentationDataset, dist: DistInfo, batch_size: int, num_workers: int) -> DataLoader:
    """Its own generator: starting an evaluation draws no number from torch's global one, so an evaluation
    (also one interrupted and run again after a resume) never shifts the training's random stream."""
    sampler = ShardSampler(len(dataset), dist.rank, dist.world_size)
    return StopSafeLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                          pin_memory=dist.device.type == "cuda", generator=torch.Generator())


@torch.inference_mode()
def evaluate(model: nn.Module, loader: DataLoader, num_classes: int, device: torch.device, precision: str,
             channels_last: bool, keep_panels: int = 0,
             stop: StopRequest | None = None) -> tuple[ConfusionMatrix, list[tuple]]:
    """Confusion matrix over the whole dataset (summed across ranks) and the first `keep_panels` samples of
    this rank as (image, target, prediction) for image panels. A `stop` request ends it early (all ranks agree
    before every batch) with `EvaluationInterrupted`: an evaluation may take longer than the grace time a
    scheduler leaves between its signal and the kill."""
    was_training = model.training
    model.eval()
    matrix = ConfusionMatrix(num_classes, device)
    panels: list[tuple] = []
    progress = ProgressLine("evaluation", len(loader.sampler))
    try:
        for batch in _batches(loader, stop):
            images = batch["image"].to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            target = batch["mask"].to(device, non_blocking=True)
            with autocast(device, precision):
                logits, _ = model(images)
            prediction = logits.argmax(dim=1)
            matrix.update(target, prediction)
            for i in range(min(keep_panels - len(panels), len(images))):
                panels.append((batch["image"][i], batch["mask"][i], prediction[i].cpu()))
            progress.advance(len(images))
    finally:
        model.train(was_training)
    progress.finish()
    all_reduce_sum(matrix.matrix)
    return matrix, panels


def _batches(loader: DataLoader, stop: StopRequest | None) -> Iterator[dict]:
    """The loader's batches. With a `stop`, every rank polls it before each batch, as often as the rank with
    the most batches (exact sharding gives some ranks one batch fewer), so that the ranks' polls pair up."""
    if stop is None:
        yield from loader
        return
    batches = iter(loader)
    for _ in range(max_over_ranks(len(loader))):
        if stop.agreed(max_over_ranks):
            raise EvaluationInterrupted(stop.reason)
        batch = next(batches, None)
        if batch is not None:
            yield batch

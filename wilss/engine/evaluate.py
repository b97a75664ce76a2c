"""Evaluation over an exactly sharded dataset: each rank counts its own images, confusion matrices are summed."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from wilss.core import ProgressLine
from wilss.data.dataset import SegmentationDataset
from wilss.data.sampler import ShardSampler
from wilss.distributed import DistInfo, all_reduce_sum
from wilss.engine.precision import autocast
from wilss.metrics import ConfusionMatrix


def eval_loader(dataset: SegmentationDataset, dist: DistInfo, batch_size: int, num_workers: int) -> DataLoader:
    sampler = ShardSampler(len(dataset), dist.rank, dist.world_size)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      pin_memory=dist.device.type == "cuda")


@torch.inference_mode()
def evaluate(model: nn.Module, loader: DataLoader, num_classes: int, device: torch.device, precision: str,
             channels_last: bool, keep_panels: int = 0) -> tuple[ConfusionMatrix, list[tuple]]:
    """Confusion matrix over the whole dataset (summed across ranks) and the first `keep_panels` samples of
    this rank as (image, target, prediction) for image panels."""
    was_training = model.training
    model.eval()
    matrix = ConfusionMatrix(num_classes, device)
    panels: list[tuple] = []
    progress = ProgressLine("evaluation", len(loader.sampler))
    for batch in loader:
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
    progress.finish()
    all_reduce_sum(matrix.matrix)
    model.train(was_training)
    return matrix, panels

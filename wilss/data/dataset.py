"""The segmentation dataset: decoded image, remapped mask and image-level label vector of one sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from wilss.errors import WilssError


class SegmentationDataset(Dataset):
    """Items are addressed by the `(index, seed)` pairs of `ShardSampler`; `seed` drives the augmentation.

    `lut` maps raw mask ids to labels (see `wilss.data.labels.label_lut`); `image_labels` holds one row per
    sample, computed from the full mask (not the crop), as the original does.
    """

    def __init__(self, images: list[Path], masks: list[Path], lut: np.ndarray, image_labels: np.ndarray,
                 transform: v2.Transform, name: str) -> None:
        if not len(images) == len(masks) == len(image_labels):
            raise ValueError("images, masks and image labels must have one entry per sample")
        self.images, self.masks, self.name = list(images), list(masks), name
        self.lut = torch.from_numpy(lut.astype(np.int64))
        self.image_labels = torch.from_numpy(image_labels)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def _load(self, index: int) -> tuple[Image.Image, torch.Tensor]:
        image = Image.open(self.images[index]).convert("RGB")
        raw = np.asarray(Image.open(self.masks[index]))
        if raw.shape != (image.height, image.width):
            raise WilssError(
                f"image '{self.images[index]}' is {image.width}x{image.height} but its mask "
                f"'{self.masks[index]}' is {raw.shape[1]}x{raw.shape[0]}; they must match."
            )
        labels = self.lut[torch.from_numpy(raw.astype(np.int64))]
        return image, tv_tensors.Mask(labels.unsqueeze(0))

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = item
        image, mask = self._load(index)
        # v2 transforms draw from torch's global generator: seed it per sample, without disturbing the caller.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            image, mask = self.transform(image, mask)
        return {
            "image": image.as_subclass(torch.Tensor),
            "mask": mask.as_subclass(torch.Tensor).squeeze(0).long(),
            "labels": self.image_labels[index],
            "index": torch.tensor(index),
        }

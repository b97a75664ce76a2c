"""The training and evaluation datasets: decoded image, remapped mask and image-level label vector of one sample,
and the concatenation that a mixed (real + replay) training stream addresses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import v2

from wilss.data.transforms import LabelMap, assert_label_map
from wilss.data.validate import open_image, open_pair


def augment(transform: v2.Transform, seed: int, *inputs):
    """Apply a (joint) transform with the sample's own seed. v2 transforms draw from torch's global generator:
    seed it per sample, without disturbing the caller. The draws depend on the image size only, so an image
    transformed with or without its mask gets the same crop and flip."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return transform(*inputs)


def plain(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.as_subclass(torch.Tensor)


def augment_pair(transform: v2.Transform, seed: int, image: Image.Image, mask: torch.Tensor, where: Path
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """An image and its (H, W) label map through one joint transform: the same crop, resize and flip for both,
    checked (`assert_label_map`). Returns the image tensor and the (h, w) uint8 mask."""
    image, mask = augment(transform, seed, image, LabelMap(mask.unsqueeze(0)))
    assert_label_map(mask, str(where))
    return plain(image), plain(mask).squeeze(0)


class ImageLabelDataset(Dataset):
    """Images with one image-level label vector each and no pixel labels: what a weak incremental step learns
    from. Items are addressed by the `(index, seed)` pairs of `ShardSampler`; `seed` drives the augmentation."""

    def __init__(self, images: list[Path], image_labels: np.ndarray, transform: v2.Transform, name: str) -> None:
        if len(images) != len(image_labels):
            raise ValueError("images and image labels must have one entry per sample")
        self.images, self.name = list(images), name
        self.image_labels = torch.from_numpy(image_labels)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = item
        image = augment(self.transform, seed, open_image(self.images[index]))
        return {"image": plain(image), "labels": self.image_labels[index], "index": torch.tensor(index)}


class SegmentationDataset(ImageLabelDataset):
    """Images with their masks. `lut` maps raw mask ids to labels (see `wilss.data.labels.label_lut`);
    `image_labels` holds one row per sample, computed from the full mask (not the crop), as the original does.
    With `pixel_labels=False` (weak incremental steps) masks are neither read nor returned."""

    def __init__(self, images: list[Path], masks: list[Path], lut: np.ndarray, image_labels: np.ndarray,
                 transform: v2.Transform, name: str, pixel_labels: bool = True) -> None:
        super().__init__(images, image_labels, transform, name)
        if len(masks) != len(images):
            raise ValueError("images and masks must have one entry per sample")
        self.masks, self.pixel_labels = list(masks), pixel_labels
        self.lut = torch.from_numpy(lut.astype(np.uint8))

    def _load(self, index: int) -> tuple[Image.Image, torch.Tensor]:
        image, raw = open_pair(self.images[index], self.masks[index])
        return image, self.lut[torch.from_numpy(raw).long()]

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        if not self.pixel_labels:
            return super().__getitem__(item)
        index, seed = item
        image, mask = augment_pair(self.transform, seed, *self._load(index), self.masks[index])
        return {"image": image, "mask": mask.long(), "labels": self.image_labels[index],
                "index": torch.tensor(index)}


class ConcatenatedDataset(Dataset):
    """Several datasets addressed as one by `(index, seed)`: item i of part k has index (total length of the
    parts before k) + i, which is also the `index` it reports."""

    def __init__(self, parts: list[Dataset]) -> None:
        self.parts = list(parts)
        self.starts = np.cumsum([0, *(len(part) for part in self.parts)])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = item
        part = int(np.searchsorted(self.starts, index, side="right")) - 1
        sample = self.parts[part][(index - int(self.starts[part]), seed)]
        return {**sample, "index": torch.tensor(index)}

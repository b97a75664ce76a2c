"""Joint image + mask transforms (docs/method.md, "Tasks and data") with torchvision.transforms.v2: one call moves both consistently."""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _to_normalized_tensor() -> list[v2.Transform]:
    return [
        v2.ToImage(),
        # Scale the image to [0, 1]; leave the mask's integer labels alone.
        v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ]


def train_transform(crop_size: int) -> v2.Compose:
    """Random-resized crop with area scale in [0.5, 2] (attempts that cannot fit are retried, then a central
    crop), horizontal flip, ImageNet normalisation; masks are resampled with nearest neighbour."""
    return v2.Compose([
        v2.RandomResizedCrop(crop_size, scale=(0.5, 2.0), ratio=(3 / 4, 4 / 3)),
        v2.RandomHorizontalFlip(),
        *_to_normalized_tensor(),
    ])


def eval_transform(crop_size: int, mode: str) -> v2.Compose:
    """`parity`: shorter side resized to `crop_size`, then the central crop_size² crop (MiB/WILSON protocol);
    `full`: the whole image at its own resolution."""
    if mode == "parity":
        resize = [v2.Resize(crop_size), v2.CenterCrop(crop_size)]
    elif mode == "full":
        resize = []
    else:
        raise ValueError(f"unknown eval mode {mode!r}")
    return v2.Compose([*resize, *_to_normalized_tensor()])

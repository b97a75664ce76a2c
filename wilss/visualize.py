"""Image panels for TensorBoard: input | ground truth | prediction, with the VOC colour map."""

from __future__ import annotations

import torch
from torchvision.utils import make_grid

from wilss.data.palette import voc_colormap
from wilss.data.transforms import IMAGENET_MEAN, IMAGENET_STD

_COLORS = torch.from_numpy(voc_colormap(256)).float() / 255.0


def denormalize(image: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (image.float().cpu() * std + mean).clamp(0, 1)


def colorize(labels: torch.Tensor) -> torch.Tensor:
    """(H, W) labels -> (3, H, W) colours in [0, 1]."""
    return _COLORS[labels.long().clamp(0, 255)].permute(2, 0, 1)


def panel_grid(panels: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """One row per sample: image, ground truth, prediction."""
    tiles = [tile for image, target, prediction in panels
             for tile in (denormalize(image), colorize(target), colorize(prediction))]
    return make_grid(tiles, nrow=3, padding=2)

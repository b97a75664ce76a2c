"""Pixel-adaptive mask refinement (PAMR, reference §6.4), vectorised.

Parameter-free: the affinity of a pixel to each of its dilated 3×3 neighbours comes from colour differences
scaled by the local colour spread; the mask is then diffused along those affinities for a few iterations.
All neighbours of all dilations are gathered at once with replicate padding, so there is no Python loop over
pixels and the same code runs on CPU and GPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wilss.engine.precision import at_least_fp32

OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def neighbours(x: torch.Tensor, dilations: tuple[int, ...], with_centre: bool) -> torch.Tensor:
    """(B, C, H, W) → (B, C, P, H, W): every pixel's 3×3 neighbours at each dilation, borders replicated.

    P = 8·|D| without the centre, 9·|D| with it (the centre then appears once per dilation, as the original's
    per-dilation 3×3 kernels)."""
    height, width = x.shape[-2:]
    gathered = []
    for d in dilations:
        padded = F.pad(x, [d, d, d, d], mode="replicate")
        for dy, dx in OFFSETS:
            if (dy, dx) == (0, 0) and not with_centre:
                continue
            top, left = d + dy * d, d + dx * d
            gathered.append(padded[..., top: top + height, left: left + width])
    return torch.stack(gathered, dim=2)


def affinity(image: torch.Tensor, dilations: tuple[int, ...]) -> torch.Tensor:
    """(B, 3, H, W) image → (B, 1, P, H, W) softmax weights over the P non-centre neighbours."""
    spread = neighbours(image, dilations, with_centre=True).std(dim=2, keepdim=True)  # unbiased, as the original
    difference = (image.unsqueeze(2) - neighbours(image, dilations, with_centre=False)).abs()
    logits = -difference / (1e-8 + 0.1 * spread)
    return F.softmax(logits.mean(dim=1, keepdim=True), dim=2)


def pamr(image: torch.Tensor, mask: torch.Tensor, iterations: int = 10,
         dilations: tuple[int, ...] = (1, 2, 4, 8, 12)) -> torch.Tensor:
    """Refine `mask` (B, C, H, W) with the affinities of `image` (B, 3, H, W) of the same size.

    Runs in at least float32 whatever the autocast state: softmax over tiny colour differences is
    precision-sensitive.
    """
    with torch.autocast(device_type=image.device.type, enabled=False):
        weights = affinity(at_least_fp32(image), dilations)
        mask = at_least_fp32(mask)
        for _ in range(iterations):
            mask = (neighbours(mask, dilations, with_centre=False) * weights).sum(dim=2)
    return mask

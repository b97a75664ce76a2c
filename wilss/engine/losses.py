"""Fully supervised segmentation losses of step 0 (docs/method.md, "Step 0")."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wilss.data.labels import IGNORE


def bce_with_ignore(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per pixel, the sum over classes of binary cross-entropy against the one-hot target; ignored pixels
    contribute 0 but still count in the mean over B·H·W (the original's reduction, `--bce`)."""
    num_classes = logits.shape[1]
    valid = target != IGNORE
    one_hot = F.one_hot(torch.where(valid, target, 0), num_classes).permute(0, 3, 1, 2).to(logits.dtype)
    per_pixel = F.binary_cross_entropy_with_logits(logits, one_hot, reduction="none").sum(dim=1)
    return (per_pixel * valid).mean()


def cross_entropy_with_ignore(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy; ignored pixels count as 0 in the mean over all pixels (as the original)."""
    per_pixel = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="none")
    return per_pixel.mean()


SEGMENTATION_LOSSES = {"bce": bce_with_ignore, "ce": cross_entropy_with_ignore}

"""Body + head + one 1×1 classifier per incremental step (reference §2.5), keys `body.*`, `head.*`, `cls.<t>.*` as in
WILSON, so its checkpoints (after stripping the DDP `module.` prefix) load by name."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class IncrementalSegmentationModel(nn.Module):
    """Logits of all steps concatenated in step order: channel index = position in the task's class order."""

    def __init__(self, body: nn.Module, head: nn.Module, classes_per_step: list[int]) -> None:
        super().__init__()
        if not classes_per_step or any(n < 1 for n in classes_per_step):
            raise ValueError(f"classes_per_step must be a non-empty list of positive counts, got {classes_per_step}")
        self.body = body
        self.head = head
        self.classes_per_step = list(classes_per_step)
        self.cls = nn.ModuleList([nn.Conv2d(head.out_channels, n, 1) for n in classes_per_step])

    @property
    def num_classes(self) -> int:
        return sum(self.classes_per_step)

    def forward(self, x: torch.Tensor, interpolate: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return (logits, {"body": backbone features, "pre_logits": head output}); logits at the input size if
        `interpolate` (bilinear, align_corners=False), else at the feature size."""
        body = self.body(x)
        pre_logits = self.head(body)
        logits = torch.cat([cls(pre_logits) for cls in self.cls], dim=1)
        if interpolate:
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits, {"body": body, "pre_logits": pre_logits}


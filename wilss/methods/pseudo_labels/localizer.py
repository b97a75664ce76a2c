"""WILSON's pseudo-labels: the softmax of the eval-mode localizer, restricted to the image's labels; refined by
PAMR on the image's colours for the localizer's own targets (`method.affinity`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import wilss.methods.wilson_losses as L
from wilss.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from wilss.engine.precision import at_least_fp32
from wilss.methods.pamr import pamr
from wilss.methods.pseudo_labels.registry import PSEUDO_LABELS

# The original de-normalises PAMR's input with blue mean 0.4069 instead of 0.406 (docs/fidelity.md).
ORIGINAL_DENORM_MEAN = (0.485, 0.456, 0.4069)


class LocalizerPseudoLabels:
    def __init__(self, method_cfg) -> None:
        self.affinity, self.iterations = method_cfg.affinity, method_cfg.pamr_iterations
        self.dilations = tuple(method_cfg.pamr_dilations)
        mean = ORIGINAL_DENORM_MEAN if method_cfg.denorm_mean_typo else IMAGENET_MEAN
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def _pamr_image(self, images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        rgb = at_least_fp32(images) * self.std.to(images.device) + self.mean.to(images.device)
        return F.interpolate(rgb, size=size, mode="bilinear", align_corners=True)

    def __call__(self, images: torch.Tensor, localizer_logits: torch.Tensor,
                 labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = F.softmax(localizer_logits, dim=1)
        refined = pamr(self._pamr_image(images, m.shape[-2:]), m, self.iterations, self.dilations) \
            if self.affinity else m
        return L.mask_by_labels(m, labels), L.mask_by_labels(refined, labels)


PSEUDO_LABELS.register("localizer")(LocalizerPseudoLabels)

"""WILSON's losses and pseudo-labels, one function per equation (docs/method.md, "Losses" and "Pseudo-labels").

Notation: z localizer logits (B, C, h, w); p segmentation logits (B, C, h, w); f_old old-model logits
(B, O, h, w); e, e_old body features; y image-level labels (B, C−1) without background; O = old channels incl.
background. Everything is at feature resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


# --- localizer classification (ℓ_CLS) --------------------------------------------------------------------------
def ngwp_focal_scores(z: torch.Tensor) -> torch.Tensor:
    """Image-level class scores (B, C): normalised global weighted pooling plus the focal size penalty.

    ŷ_c = Σ_i z_ci m_ci / (1 + Σ_i m_ci) + (1 − m̄_c)^3 · log(0.01 + m̄_c), m = softmax_c(z), m̄ = mean_i m.
    The denominator's 1 is the original code's ε."""
    m = F.softmax(z, dim=1)
    pooled = (z * m).sum(dim=(2, 3)) / (1.0 + m.sum(dim=(2, 3)))
    mean_mass = m.mean(dim=(2, 3))
    return pooled + (1.0 - mean_mass) ** 3 * torch.log(0.01 + mean_mass)


def classification_loss(z: torch.Tensor, y: torch.Tensor, num_old: int) -> torch.Tensor:
    """ℓ_CLS: BCE of the new classes' scores against their image-level labels."""
    scores = ngwp_focal_scores(z)[:, num_old:]
    return F.binary_cross_entropy_with_logits(scores, y[:, num_old - 1:])


# --- localization prior (ℓ_LOC) and encoder distillation (ℓ_ENC) ----------------------------------------------
def localization_prior_loss(z: torch.Tensor, old_logits: torch.Tensor) -> torch.Tensor:
    """ℓ_LOC: the localizer's background and old-class channels follow the old model's sigmoid."""
    num_old = old_logits.shape[1]
    return F.binary_cross_entropy_with_logits(z[:, :num_old], torch.sigmoid(old_logits))


def encoder_distillation_loss(features: torch.Tensor, old_features: torch.Tensor, weight: float) -> torch.Tensor:
    """ℓ_ENC: `loss_de` × mean squared difference of the body features."""
    return weight * F.mse_loss(features, old_features)


# --- pseudo-labels -----------------------------------------------------------------------------------------
def binarize(m: torch.Tensor) -> torch.Tensor:
    """1 where a channel reaches the per-pixel maximum (ties give several ones)."""
    return (m >= m.max(dim=1, keepdim=True).values).to(m.dtype)


def mask_by_labels(m: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Zero the channels of classes absent from the image labels; background is kept, nothing renormalised."""
    keep = torch.cat([torch.ones_like(y[:, :1]), y], dim=1)
    return m * keep[:, :, None, None].to(m.dtype)


def segmentation_targets(m: torch.Tensor, old_logits: torch.Tensor, alpha: float) -> torch.Tensor:
    """q̂ (Eq. 5–7): old channels = σ(f_old); new channels = α·binarize(m) + (1−α)·m; background =
    min(σ(f_old)_bg, q_bg). `m` is the label-masked softmax of the eval-mode localizer."""
    q = alpha * binarize(m) + (1.0 - alpha) * m
    old = torch.sigmoid(old_logits)
    num_old = old.shape[1]
    background = torch.minimum(old[:, :1], q[:, :1])
    return torch.cat([background, old[:, 1:], q[:, num_old:]], dim=1)


def localizer_targets(m: torch.Tensor, cutoff_top: float = 0.6, cutoff_bkg: float = 0.7,
                      cutoff_low: float = 0.2) -> torch.Tensor:
    """Hard masks g for ℓ_SSS: pixel above κ_c · (max of its class in the image), at least `cutoff_low`;
    κ = 0.7 for background, 0.6 otherwise; pixels claimed by several classes become all-zero (ignored)."""
    peak = m.flatten(2).max(dim=2).values
    kappa = torch.full_like(peak, cutoff_top)
    kappa[:, 0] = cutoff_bkg
    threshold = torch.clamp(peak * kappa, min=cutoff_low)[:, :, None, None]
    g = (m > threshold).to(m.dtype)
    ambiguous = g.sum(dim=1, keepdim=True) > 1
    return g.masked_fill(ambiguous, 0.0)


# --- segmentation (ℓ_SEG) and localizer self-supervision (ℓ_SSS) ---------------------------------------------
def segmentation_loss(p: torch.Tensor, targets: torch.Tensor, y: torch.Tensor, num_old: int) -> torch.Tensor:
    """ℓ_SEG: per-pixel Σ_c BCE(p_c, q̂_c), mean per image, then a batch mean weighted by w_b: 1 when every
    new class has positive pseudo-mass in the image exactly when it is in y."""
    per_image = F.binary_cross_entropy_with_logits(p, targets, reduction="none").sum(dim=1).mean(dim=(1, 2))
    has_mass = targets[:, num_old:].sum(dim=(2, 3)) > 0
    weight = (has_mass == (y[:, num_old - 1:] > 0)).all(dim=1).to(per_image.dtype)
    return (weight * per_image).sum() / (weight.sum() + 1e-5)


def balanced_localizer_loss(z: torch.Tensor, g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """ℓ_SSS: class-balanced CE of the localizer on the hard masks g.

    Pixel weight w_c = (M_tot − M_c) / (1 + M_tot) for its class c (M_c pixels of c in g); per image the mean
    over all pixels (ignored ones count 0); an image counts only when g shows exactly (#labels + 1) classes;
    mean over the batch, filtered images included as 0."""
    batch, classes = g.shape[:2]
    target = g.argmax(dim=1).masked_fill(g.sum(dim=1) < 1, -100)
    per_class = g.flatten(2).sum(dim=2)
    total = per_class.sum(dim=1, keepdim=True)
    class_weight = (total - per_class) / (1.0 + total)
    pixel_weight = (g * class_weight[:, :, None, None]).sum(dim=1)
    ce = F.cross_entropy(z, target, ignore_index=-100, reduction="none")
    per_image = (pixel_weight * ce).flatten(1).mean(dim=1)
    keep = (per_class > 0).sum(dim=1) == y.sum(dim=1) + 1
    return (keep.to(per_image.dtype) * per_image).mean()

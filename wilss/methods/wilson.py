"""WILSON's incremental step (docs/method.md, "Weak incremental steps"): new classes from image-level labels, the localizer regularised
by the frozen step t−1 model. With `distill=False` it is the `ft` baseline: the same localizer and
pseudo-labels, but no old model, no prior and no distillation."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

import wilss.methods.wilson_losses as L
from wilss.engine.optim import segmentation_param_groups
from wilss.engine.precision import at_least_fp32
from wilss.methods.pseudo_labels.registry import PSEUDO_LABELS
from wilss.methods.registry import METHODS, MethodContext
from wilss.models import build_norm
from wilss.models.localizer import build_localizer


class WilsonStep:
    def __init__(self, model: nn.Module, network: nn.Module, localizer: nn.Module, localizer_network: nn.Module,
                 old_model: nn.Module | None, method_cfg, num_old: int, inference_mode: bool = True) -> None:
        self.model, self.network = model, network
        # True: neither the old model nor the pseudo-label pass records autograd. False: the reference's way,
        # the old model under no_grad and the pseudo-label pass recorded, then detached (same values).
        self.inference_mode = inference_mode
        self.localizer, self.localizer_network = localizer, localizer_network
        self.old_model, self.cfg, self.num_old = old_model, method_cfg, num_old
        self.pseudo_label_source = PSEUDO_LABELS.get(method_cfg.pseudo_labels)(method_cfg)

    def _old_outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode() if self.inference_mode else torch.no_grad():
            logits, features = self.old_model(images, interpolate=False)
        # Clones leave inference mode so the targets can be saved for backward.
        return at_least_fp32(logits).clone(), at_least_fp32(features["body"]).clone()

    def _pseudo_label_pass(self, features: torch.Tensor) -> torch.Tensor:
        """Eval-mode localizer (running statistics), no autograd: the source of the pseudo-labels."""
        self.localizer.eval()
        with torch.no_grad() if self.inference_mode else contextlib.nullcontext():
            z_eval = self.localizer(features).detach()
        self.localizer.train()
        return at_least_fp32(z_eval)

    def losses(self, batch: dict[str, torch.Tensor], epoch: int) -> dict[str, torch.Tensor]:
        images, y, cfg, num_old = batch["image"], batch["labels"].float(), self.cfg, self.num_old
        p, features = self.network(images, interpolate=False)
        body = features["body"]
        z_eval = self._pseudo_label_pass(body)
        z = at_least_fp32(self.localizer_network(body))
        losses = {"cls": L.classification_loss(z, y, num_old)}
        old_logits = None
        if self.old_model is not None:
            old_logits, old_body = self._old_outputs(images)
            losses["loc"] = L.localization_prior_loss(z, old_logits)
            losses["enc"] = L.encoder_distillation_loss(at_least_fp32(body), old_body, cfg.loss_de)
        if epoch < cfg.pseudo_ep:
            # Localizer-only phase; 0·p keeps every parameter in the graph, as DDP's reducer expects.
            losses["seg"] = 0.0 * p.sum()
            return losses
        m, m_soft = self.pseudo_label_source(images, z_eval, y)
        targets = self._segmentation_targets(m, old_logits)
        losses["seg"] = L.segmentation_loss(at_least_fp32(p), targets, y, num_old)
        losses["sss"] = L.balanced_localizer_loss(z, L.localizer_targets(m_soft), y)
        return losses

    def _segmentation_targets(self, m: torch.Tensor, old_logits: torch.Tensor | None) -> torch.Tensor:
        """What the segmentation head learns from: WILSON's q̂, or for `ft` the localizer's own blend."""
        if old_logits is None:
            return self.cfg.alpha * L.binarize(m) + (1.0 - self.cfg.alpha) * m
        return L.segmentation_targets(m, old_logits, self.cfg.alpha)

    @torch.no_grad()
    def pseudo_labels(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """The targets' arg-max at image size, for TensorBoard's pseudo-label column. The image-level labels are
        the new classes present in `masks`, as in training. Runs the unwrapped modules in eval mode, on one rank."""
        was_training = self.model.training
        self.model.eval()
        _, features = self.model(images, interpolate=False)
        z_eval = self._pseudo_label_pass(features["body"])
        present = torch.stack([torch.bincount(mask[mask != 255].flatten(), minlength=z_eval.shape[1]) > 0
                               for mask in masks])
        y = present[:, 1:].to(z_eval.dtype)
        y[:, :self.num_old - 1] = 0  # old classes carry no image label in a weak step
        old_logits = self._old_outputs(images)[0] if self.old_model is not None else None
        targets = self._segmentation_targets(self.pseudo_label_source(images, z_eval, y)[0], old_logits)
        self.model.train(was_training)
        return F.interpolate(targets, size=images.shape[-2:], mode="bilinear").argmax(dim=1)

    def param_groups(self, phase) -> list[dict]:
        localizer = {"name": "localizer", "params": list(self.localizer.parameters()), "lr": phase.lr_localizer}
        return [*segmentation_param_groups(self.model, phase.lr, phase.lr_head), localizer]

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "localizer": self.localizer}


@METHODS.register("wilson", "ft")
def build_wilson(context: MethodContext) -> WilsonStep:
    """The localizer on the new model's body features; the old model only when `method.distill` (not `ft`)."""
    cfg, model = context.cfg, context.model
    norm_act = build_norm(cfg.model.norm, context.sync_bn)
    localizer = build_localizer(model.body.out_channels, len(context.task.order), norm_act).to(context.device)
    if context.channels_last:
        localizer = localizer.to(memory_format=torch.channels_last)
    return WilsonStep(model, context.wrap(model), localizer, context.wrap(localizer),
                      context.old_model if cfg.method.distill else None, cfg.method, context.task.num_old,
                      cfg.train.inference_mode)

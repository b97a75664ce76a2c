"""Fully supervised segmentation from pixel labels: step 0 of every task (and the joint upper bound)."""

from __future__ import annotations

import torch
from torch import nn

from wilss.engine.losses import SEGMENTATION_LOSSES
from wilss.engine.optim import segmentation_param_groups
from wilss.methods.registry import METHODS, MethodContext


class SupervisedStep:
    """One loss on the model's logits, upsampled to the input size."""

    def __init__(self, model: nn.Module, network: nn.Module, loss: str) -> None:
        self.model = model          # the plain model: parameters, checkpoints
        self.network = network      # what runs the forward pass (the model, or its DDP wrapper)
        self.loss_fn = SEGMENTATION_LOSSES[loss]

    def losses(self, batch: dict[str, torch.Tensor], epoch: int) -> dict[str, torch.Tensor]:
        logits, _ = self.network(batch["image"])
        return {"seg": self.loss_fn(logits.float(), batch["mask"])}

    def param_groups(self, phase) -> list[dict]:
        return segmentation_param_groups(self.model, phase.lr, phase.lr_head)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}


@METHODS.register("supervised", "joint")
def build_supervised(context: MethodContext) -> SupervisedStep:
    """Step 0, and the joint baseline (its config trains every class seen so far, with the step-0 recipe)."""
    return SupervisedStep(context.model, context.wrap(context.model), context.cfg.train.loss)

"""What the timm backbones share: the optional import and loading a local checkpoint instead of downloading."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from wilss.errors import MissingDependency, WilssError
from wilss.models.backbones.registry import BackboneOptions


def create_timm_model(options: BackboneOptions, **kwargs) -> nn.Module:
    """`timm.create_model(model.options.timm_model, **kwargs)`, with the weights of `model.pretrained` if set."""
    try:
        import timm
    except ImportError:
        raise MissingDependency.timm(options.name) from None
    name = options.extra.get("timm_model")
    if not name:
        raise WilssError(f"model.backbone={options.name} needs model.options.timm_model (a timm model name, e.g. "
                         "resnet50 or vit_small_patch14_dinov2).")
    weights = {}
    if options.pretrained is not None:
        path = Path(options.pretrained)
        if not path.is_file():
            raise WilssError(f"model.pretrained: '{path}' not found. Save the timm weights of {name} there once, "
                             f"where the internet is reachable: torch.save(timm.create_model('{name}', "
                             f"pretrained=True).state_dict(), '{path}'); or set model.pretrained=null to train "
                             "from scratch.")
        weights = {"pretrained": True, "pretrained_cfg_overlay": {"file": str(path)}}
    try:
        return timm.create_model(name, **weights, **kwargs)
    except (RuntimeError, ValueError) as err:  # unknown model, or a checkpoint of another model
        raise WilssError(f"model.options.timm_model={name}: {err}") from None

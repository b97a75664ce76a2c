"""The model spec: everything that builds a step's model, as plain data (no torch: the launch layer's checks read
it on login nodes). `model_spec` is the one mapping from a composed config to it; checkpoints store it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from omegaconf import DictConfig, OmegaConf


@dataclass(frozen=True)
class ModelSpec:
    """Everything that builds a step's model: the keyword arguments of `wilss.models.build_model` (except the
    run-time `sync_bn`). Stored in every checkpoint (`meta["model_spec"]`), so a tool rebuilds the model from the
    checkpoint alone."""

    backbone: str
    classes_per_step: tuple[int, ...]
    output_stride: int
    norm: str
    pooling_size: int
    init: str
    trim_padding_taps: bool
    options: Mapping = field(default_factory=dict, hash=False)
    pretrained: str | None = None          # ImageNet weights: step 0 only, later steps start from step t-1
    pretrained_md5: str | None = None
    pretrained_trusted: bool = False

    def to_dict(self) -> dict:
        return asdict(self) | {"classes_per_step": list(self.classes_per_step), "options": dict(self.options)}

    @classmethod
    def from_dict(cls, stored: Mapping) -> ModelSpec:
        return cls(**{**stored, "classes_per_step": tuple(stored["classes_per_step"])})

    def without_weights_file(self) -> ModelSpec:
        """The same model, its weights to be loaded from a checkpoint (no ImageNet file is read)."""
        return ModelSpec.from_dict(self.to_dict() | {"pretrained": None, "pretrained_md5": None})


def model_spec(config: Mapping, classes_per_step, from_previous: bool = False) -> ModelSpec:
    """The model with these classifier sizes under a composed config (a DictConfig, or the config dict a checkpoint
    stored): the one mapping from `model.*` (and the crop, which sets the head's pooling) to the model."""
    model = config["model"]
    return ModelSpec(
        backbone=model["backbone"], classes_per_step=tuple(classes_per_step),
        output_stride=model["output_stride"], norm=model["norm"],
        pooling_size=config["dataset"]["crop_size"] // model["output_stride"], init=model["init"],
        trim_padding_taps=bool(config["train"]["trim_padding_taps"]),
        options=_plain(model.get("options") or {}),
        pretrained=None if from_previous else model["pretrained"],
        pretrained_md5=model.get("pretrained_md5"), pretrained_trusted=bool(model.get("pretrained_trusted")))


def _plain(options) -> dict:
    return OmegaConf.to_container(options, resolve=True) if isinstance(options, DictConfig) else dict(options)

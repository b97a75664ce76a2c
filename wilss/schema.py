"""The schema of the configuration: what type each option has, which values an enumerated one takes, the ranges
a type cannot say, and what each built-in method needs of its flags. Torch-free: `wilss submit` reads it on login
nodes.

The dataclasses are registered in Hydra's ConfigStore as `wilss_schema`, the first entry of `train.yaml`'s
defaults: Hydra then refuses a key the schema lacks and a value of the wrong type in any config file. Values stay
in the YAML files (every field here is MISSING), so the defaults that reproduce the paper have one home.
`dataset`, `launch`, `replay` and `web` are open (a dataset of another package brings its own keys): their rules,
where there are some, are in `RANGES` or in the commands that read them.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

SCHEMA_NAME = "wilss_schema"


# Enumerations: the member names are the values written in configs and on the command line.
Precision = Enum("Precision", "auto fp32 bf16 fp16")
Loss = Enum("Loss", "bce ce")
EvalMode = Enum("EvalMode", "parity full")
BodyInit = Enum("BodyInit", "he_fan_out torch_default")  # wilss.models.initialization
LrPolicy = Enum("LrPolicy", "poly constant_then_poly warmup")  # warmup: the original's name of constant_then_poly
Labels = Enum("Labels", "image pixel")
Classes = Enum("Classes", "new seen")
Recipe = Enum("Recipe", "incremental base")
Init = Enum("Init", "previous_step pretrained")


@dataclass
class TaskConfig:
    name: str = MISSING


@dataclass
class ModelConfig:
    backbone: str = MISSING
    output_stride: int = MISSING
    norm: str = MISSING
    sync_bn: bool = MISSING
    pretrained: Optional[str] = MISSING
    pretrained_md5: Optional[str] = MISSING
    init: BodyInit = MISSING
    pretrained_trusted: bool = MISSING
    options: Dict[str, Any] = MISSING  # the backbone family's own settings


@dataclass
class BasePhase:
    lr: float = MISSING
    lr_head: float = MISSING
    policy: LrPolicy = MISSING


@dataclass
class IncrementalPhase:
    lr: float = MISSING
    lr_head: float = MISSING
    lr_localizer: float = MISSING  # WILSON's localizer (absolute)
    policy: LrPolicy = MISSING


@dataclass
class OptimConfig:
    momentum: float = MISSING
    nesterov: bool = MISSING
    weight_decay: float = MISSING
    poly_power: float = MISSING
    fused: bool = MISSING
    base: BasePhase = MISSING
    incremental: IncrementalPhase = MISSING


@dataclass
class TrainConfig:
    batch_size: int = MISSING
    epochs_base: int = MISSING
    epochs_incremental: int = MISSING
    val_interval: int = MISSING
    loss: Loss = MISSING
    void_as_background: bool = MISSING
    num_workers: int = MISSING
    device: str = MISSING
    precision: Precision = MISSING
    cast_frozen_model: bool = MISSING
    fold_frozen_norms: bool = MISSING
    prepack_frozen_model: bool = MISSING
    trim_padding_taps: bool = MISSING
    inference_mode: bool = MISSING
    compile: bool = MISSING
    deterministic: bool = MISSING
    channels_last: bool = MISSING
    log_interval: int = MISSING
    checkpoint_interval: int = MISSING
    loggers: List[str] = MISSING
    image_panels: int = MISSING
    max_iters_per_epoch: Optional[int] = MISSING


@dataclass
class EvalConfig:
    mode: EvalMode = MISSING
    batch_size: int = MISSING


@dataclass
class MethodConfig:
    """The flags (labels, classes, recipe, init) are what the method decides about the run; `METHOD_NEEDS` says
    which values each built-in method works with. The rest are WILSON's knobs, which `ft` and `joint` inherit."""

    name: str = MISSING
    labels: Labels = MISSING
    classes: Classes = MISSING
    recipe: Recipe = MISSING
    init: Init = MISSING
    pseudo_labels: str = MISSING
    alpha: float = MISSING
    loss_de: float = MISSING
    affinity: bool = MISSING
    pseudo_ep: int = MISSING
    pamr_iterations: int = MISSING
    pamr_dilations: List[int] = MISSING
    distill: bool = MISSING
    denorm_mean_typo: bool = MISSING


@dataclass
class RootConfig:
    task: TaskConfig = MISSING
    model: ModelConfig = MISSING
    optim: OptimConfig = MISSING
    train: TrainConfig = MISSING
    eval: EvalConfig = MISSING
    method: MethodConfig = MISSING
    launch: Dict[str, Any] = MISSING
    replay: Dict[str, Any] = MISSING
    web: Dict[str, Any] = MISSING
    dataset: Dict[str, Any] = MISSING
    step: int = MISSING
    overlap: bool = MISSING
    name: str = MISSING
    seed: int = MISSING
    output_root: str = MISSING
    run_dir: Optional[str] = MISSING
    sweep_dir: Optional[str] = MISSING
    cluster: str = MISSING
    expected: Optional[str] = MISSING
    step_ckpt: Optional[str] = MISSING


ConfigStore.instance().store(name=SCHEMA_NAME, node=RootConfig)


@dataclass(frozen=True)
class Range:
    """Bounds a type cannot say; integer bounds mean an integer option, float bounds a number."""

    low: float
    high: float | None = None
    low_excluded: bool = False

    def accepts(self, value) -> bool:
        kinds = (int,) if isinstance(self.low, int) else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            return False
        above = value > self.low if self.low_excluded else value >= self.low
        return above and (self.high is None or value <= self.high)

    def __str__(self) -> str:
        kind = "an integer" if isinstance(self.low, int) else "a number"
        text = f"{kind} {'>' if self.low_excluded else '>='} {self.low:g}"
        return text + (f" and <= {self.high:g}" if self.high is not None else "")


AT_LEAST_0, AT_LEAST_1 = Range(0), Range(1)
POSITIVE, NON_NEGATIVE, FRACTION = Range(0.0, low_excluded=True), Range(0.0), Range(0.0, 1.0)

RANGES: dict[str, Range] = {
    "step": AT_LEAST_0, "seed": AT_LEAST_0,
    "dataset.crop_size": AT_LEAST_1, "dataset.crop_size_val": AT_LEAST_1, "model.output_stride": AT_LEAST_1,
    "train.batch_size": AT_LEAST_1, "train.epochs_base": AT_LEAST_1, "train.epochs_incremental": AT_LEAST_1,
    "train.val_interval": AT_LEAST_1, "train.checkpoint_interval": AT_LEAST_1, "train.log_interval": AT_LEAST_1,
    "train.num_workers": AT_LEAST_0, "train.image_panels": AT_LEAST_0, "train.max_iters_per_epoch": AT_LEAST_1,
    "eval.batch_size": AT_LEAST_1,
    "optim.base.lr": POSITIVE, "optim.incremental.lr": POSITIVE, "optim.incremental.lr_localizer": POSITIVE,
    "optim.base.lr_head": POSITIVE, "optim.incremental.lr_head": POSITIVE,
    "optim.momentum": FRACTION, "optim.weight_decay": NON_NEGATIVE, "optim.poly_power": POSITIVE,
    "method.alpha": FRACTION, "method.loss_de": NON_NEGATIVE, "method.pseudo_ep": AT_LEAST_0,
}


@dataclass(frozen=True)
class MethodNeeds:
    """The flag values a method works with (None: any), and why, for the message that refuses the others."""

    why: str
    labels: tuple[str, ...] | None = None
    recipe: tuple[str, ...] | None = None
    init: tuple[str, ...] | None = None


_SUPERVISED = MethodNeeds("it trains on pixel masks", labels=("pixel",))
_WILSON = MethodNeeds("it learns from image-level labels, its localizer's learning rate and warm-up are in "
                      "optim.incremental, and it starts from step t-1", labels=("image",),
                      recipe=("incremental",), init=("previous_step",))
# method.name -> what it needs: the one declaration of the built-in methods (wilss/methods/ registers their
# builders under the same names; tests/test_config_schema.py checks both list the same). A method from another
# package is not listed: its own config decides its flags.
METHOD_NEEDS: dict[str, MethodNeeds] = {"supervised": _SUPERVISED, "joint": _SUPERVISED,
                                        "wilson": _WILSON, "ft": _WILSON}


def method_problem(method: str, flag: str, value: str) -> str | None:
    """Why `method.<flag>=<value>` cannot go with `method.name=<method>`, or None."""
    needs = METHOD_NEEDS.get(method)
    accepted = getattr(needs, flag, None) if needs else None
    if accepted is None or value in accepted:
        return None
    fitting = [name for name, other in METHOD_NEEDS.items() if value in (getattr(other, flag) or (value,))]
    return (f"method.{flag}={value} does not fit method {method}, which needs {flag}={' or '.join(accepted)} "
            f"({needs.why}). Drop the override, or choose a method that works with {flag}={value} "
            f"(method.name: {', '.join(fitting)}).")


def leaf_type(key: str) -> Any:
    """The schema's type of a dotted option; None where the schema does not type it (open groups, unknown)."""
    node: Any = RootConfig
    for part in key.split("."):
        fields = {f.name: f for f in dataclasses.fields(node)} if dataclasses.is_dataclass(node) else {}
        if part not in fields:
            return None
        node = typing.get_type_hints(node)[part]
    return node


def field_names(key: str) -> list[str] | None:
    """The options under a dotted key ('' is the root) when the schema closes it, else None."""
    node = RootConfig if key == "" else leaf_type(key)
    return [f.name for f in dataclasses.fields(node)] if dataclasses.is_dataclass(node) else None

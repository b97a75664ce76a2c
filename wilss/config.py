"""Compose, check and resolve the configuration of one step.

The Hydra compose API builds the config from the packaged `wilss/configs/`, a lab's own config folders (searched
after the packaged ones: WILSS_CONFIG_PATH, or `hydra.searchpath=[...]`) and command-line overrides; `validate` checks the
cross-field rules once, before anything runs (so a typo fails in seconds, not after the queue); the resolved
config is then saved in the step directory and is the single source of truth for that step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
import re
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from wilss.data.datasets import DATASETS
from wilss.data.tasks import Task, get_task
from wilss.errors import WilssError
from wilss.layout import RunLayout, StepLayout

CONFIG_DIR = Path(__file__).resolve().parent / "configs"  # shipped inside the package (wheel and sdist)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LR_POLICIES = ("poly", "constant_then_poly", "warmup")
METHOD_CHOICES = {"labels": ("image", "pixel"), "classes": ("new", "seen"), "recipe": ("incremental", "base"),
                  "init": ("previous_step", "pretrained")}
BODY_INITS = ("he_fan_out", "torch_default")  # wilss.models.initialization
SEARCH_PATH_ENV = "WILSS_CONFIG_PATH"  # os.pathsep-separated folders of site configs (cluster presets, dataset roots)


def site_config_dirs() -> list[Path]:
    """The folders named in WILSS_CONFIG_PATH, each checked so a typo fails here and not as "no option"."""
    dirs = [Path(entry).expanduser().resolve() for entry in os.environ.get(SEARCH_PATH_ENV, "").split(os.pathsep) if entry]
    for folder in dirs:
        if not folder.is_dir():
            raise WilssError(f"{SEARCH_PATH_ENV} names '{folder}', which is not a folder: fix or unset {SEARCH_PATH_ENV}.")
    return dirs


def search_path_overrides(overrides: list[str]) -> list[str]:
    """Hydra's own `hydra.searchpath` override for the site folders; an explicit one on the command line wins."""
    dirs = site_config_dirs()
    if not dirs or any(o.lstrip("+").startswith("hydra.searchpath=") for o in overrides):
        return []
    return [f"hydra.searchpath=[{','.join(f'file://{folder}' for folder in dirs)}]"]


def load_config(overrides: list[str], config_name: str = "train") -> DictConfig:
    """Compose `configs/<config_name>.yaml` with Hydra overrides (`key=value`, `group=option`)."""
    if not CONFIG_DIR.is_dir():
        raise WilssError(f"config folder '{CONFIG_DIR}' is missing; the installed package is incomplete: reinstall wilss (pip install --force-reinstall wilss).")
    _check_group_choices(overrides)
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=[*search_path_overrides(overrides), *overrides])
    except (HydraException, OmegaConfBaseException) as err:
        message = str(err).split("\nConfig search path")[0].strip()
        raise WilssError(f"invalid configuration ({' '.join(overrides) or 'defaults'}): {message}") from None
    validate(cfg)
    return cfg


def _check_group_choices(overrides: list[str]) -> None:
    """A config group (task=, dataset=, ...) is chosen by name; a name that reads as a number (15_5 is 155 to
    Hydra) would otherwise end in Hydra's own traceback."""
    for override in overrides:
        key, _, value = override.partition("=")
        group = CONFIG_DIR / key.lstrip("+~")
        if not (group.is_dir() and value and re.fullmatch(r"[+-]?[\d_]+(\.[\d_]*)?([eE][+-]?\d+)?", value)):
            continue
        choices = sorted(path.stem for path in group.glob("*.yaml"))
        raise WilssError(f"{override}: '{value}' reads as a number, but {key} is chosen by name; choose one of "
                         f"{choices} (e.g. {key}={choices[0]}).")


def _integer(minimum: int) -> tuple:
    return (lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
            f"an integer >= {minimum}")


def _number(minimum: float, maximum: float = float("inf"), strict: bool = False) -> tuple:
    def accepts(value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return (value > minimum if strict else value >= minimum) and value <= maximum
    return accepts, f"a number {'>' if strict else '>='} {minimum}" + (f" and <= {maximum}" if maximum < 1e300 else "")


def _one_of(*choices) -> tuple:
    return (lambda value: value in choices and type(value) in {type(c) for c in choices}, f"one of {list(choices)}")


_TEXT = (lambda value: isinstance(value, str) and value != "", "a name (text, e.g. '15-5': quote names that read as numbers)")
_FLAG = (lambda value: isinstance(value, bool), "true or false")
_OPTIONAL_POSITIVE = (lambda value: value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0),
                      "null or an integer >= 1")

# option -> (accepts(value), what it must be); checked when the composed config has the option.
VALUE_RULES = {
    "step": _integer(0), "seed": _integer(0), "overlap": _FLAG, "name": _TEXT,
    "task.name": _TEXT, "dataset.name": _TEXT,
    "dataset.crop_size": _integer(1), "dataset.crop_size_val": _integer(1),
    "model.output_stride": _integer(1),
    "train.batch_size": _integer(1), "train.epochs_base": _integer(1), "train.epochs_incremental": _integer(1),
    "train.val_interval": _integer(1), "train.checkpoint_interval": _integer(1), "train.log_interval": _integer(1),
    "train.num_workers": _integer(0), "train.image_panels": _integer(0),
    "train.max_iters_per_epoch": _OPTIONAL_POSITIVE, "train.void_as_background": _FLAG,
    "train.deterministic": _FLAG, "train.compile": _FLAG, "train.channels_last": _FLAG,
    "eval.batch_size": _integer(1),
    "optim.base.lr": _number(0, strict=True), "optim.incremental.lr": _number(0, strict=True),
    "optim.incremental.lr_localizer": _number(0, strict=True),
    "optim.base.lr_head": _number(0, strict=True), "optim.incremental.lr_head": _number(0, strict=True),
    "optim.momentum": _number(0, 1), "optim.weight_decay": _number(0), "optim.poly_power": _number(0, strict=True),
    "method.alpha": _number(0, 1), "method.loss_de": _number(0), "method.pseudo_ep": _integer(0),
}


_ABSENT = object()


def check_values(cfg: DictConfig) -> None:
    """Types and ranges of single options, all reported at once (a crop of 0 or a learning rate of -1 would
    otherwise fail deep inside torch, or not at all)."""
    wrong = []
    for key, (accepts, wanted) in VALUE_RULES.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is not _ABSENT and not accepts(value):
            wrong.append(f"{key}={value!r} must be {wanted}")
    if wrong:
        raise WilssError("invalid option value" + ("s" if len(wrong) > 1 else "") + ": " + "; ".join(wrong)
                         + ". Fix the override (key=value) or the config file.")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise WilssError(message)


def validate(cfg: DictConfig) -> None:
    """Single options' types and ranges, then cross-field rules, each failing with the option to change."""
    check_values(cfg)
    get_task(cfg.dataset.name, cfg.task.name, cfg.step)
    _check(not cfg.overlap or DATASETS.get(cfg.dataset.name).overlap,
           f"overlap=true is not defined for dataset={cfg.dataset.name} (disjoint by construction); drop it.")
    _check(cfg.train.precision in PRECISIONS, f"train.precision={cfg.train.precision}: choose one of {PRECISIONS}.")
    _check(cfg.train.loss in ("bce", "ce"), f"train.loss={cfg.train.loss}: choose bce or ce.")
    _check(cfg.eval.mode in ("parity", "full"), f"eval.mode={cfg.eval.mode}: choose parity or full.")
    _check(cfg.model.init in BODY_INITS, f"model.init={cfg.model.init}: choose one of {BODY_INITS}.")
    for phase in ("base", "incremental"):
        policy = cfg.optim[phase].policy
        _check(policy in LR_POLICIES, f"optim.{phase}.policy={policy}: choose one of {LR_POLICIES}.")
    for key, choices in METHOD_CHOICES.items():
        _check(cfg.method[key] in choices, f"method.{key}={cfg.method[key]}: choose one of {choices}.")
    _check(cfg.train.batch_size > 0 and cfg.train.val_interval > 0 and cfg.train.checkpoint_interval > 0,
           "train.batch_size, train.val_interval and train.checkpoint_interval must be positive.")


def task_of(cfg: DictConfig) -> Task:
    return get_task(cfg.dataset.name, cfg.task.name, cfg.step)


def run_dir(cfg: DictConfig) -> Path:
    """<output_root>/<dataset>-<task>[-ov]/<name>, unless `run_dir` is set."""
    if cfg.run_dir:
        return Path(cfg.run_dir)
    suffix = "-ov" if cfg.overlap else ""
    return Path(cfg.output_root) / f"{cfg.dataset.name}-{cfg.task.name}{suffix}" / cfg.name


def run_layout(cfg: DictConfig) -> RunLayout:
    return RunLayout(run_dir(cfg))


def step_layout(cfg: DictConfig, step: int | None = None) -> StepLayout:
    """The files of step `step` (default: the configured one) of the run."""
    return run_layout(cfg).step(cfg.step if step is None else step)


@dataclass(frozen=True)
class StepRecipe:
    """What the method of a step decides about the rest of the run (the `method` config of steps >= 1; step 0 is
    always fully supervised from pixel labels, with the base recipe, from the pretrained weights)."""

    method: str            # the registered method that computes the losses (wilss/methods/)
    weak: bool             # learns from image-level labels only (no masks are read)
    seen_classes: bool     # trains every class seen so far as one step (the joint baseline), else the new ones
    base_recipe: bool      # train.epochs_base and optim.base, else train.epochs_incremental and optim.incremental
    from_previous: bool    # starts from step t-1's weights (and may use them as the frozen old model)


STEP0 = StepRecipe("supervised", weak=False, seen_classes=False, base_recipe=True, from_previous=False)


def recipe_of(cfg: DictConfig) -> StepRecipe:
    if cfg.step == 0:
        return STEP0
    method = cfg.method
    return StepRecipe(method.name, weak=method.labels == "image", seen_classes=method.classes == "seen",
                      base_recipe=method.recipe == "base", from_previous=method.init == "previous_step")


def epochs_of(cfg: DictConfig) -> int:
    return cfg.train.epochs_base if recipe_of(cfg).base_recipe else cfg.train.epochs_incremental


def optim_phase(cfg: DictConfig) -> DictConfig:
    """The learning-rate section that applies to this step."""
    return cfg.optim.base if recipe_of(cfg).base_recipe else cfg.optim.incremental


def eval_batch_size(cfg: DictConfig) -> int:
    """Whole images differ in size, so full-image evaluation goes one image at a time."""
    return 1 if cfg.eval.mode == "full" else cfg.eval.batch_size


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)


def printed_config(args: list[str]) -> bool:
    """Hydra's `--cfg [job|all]`: print the composed configuration instead of running; True when it did. (`all`
    would add Hydra's own run configuration, which the kit does not use; `--cfg hydra` is refused for that.)"""
    if "--cfg" not in args:
        return False
    at = args.index("--cfg")
    which = args[at + 1] if at + 1 < len(args) and args[at + 1] in ("job", "hydra", "all") else None
    if which == "hydra":
        raise WilssError("--cfg hydra: the kit composes its configuration without Hydra's run configuration; "
                         "--cfg (or --cfg job) prints the job's.")
    print(to_yaml(load_config(args[:at] + args[at + (2 if which else 1):])))
    return True

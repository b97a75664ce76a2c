"""Compose, check and resolve the configuration of one step.

The Hydra compose API builds the config from the packaged `wilss/configs/`, a lab's own config folders (searched
after the packaged ones: WILSS_CONFIG_PATH, or `hydra.searchpath=[...]`) and command-line overrides; `validate` checks the
cross-field rules once, before anything runs (so a typo fails in seconds, not after the queue); the resolved
config is then saved in the step directory and is the single source of truth for that step.
"""

from __future__ import annotations

import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from wilss.data.tasks import Task, get_task
from wilss.errors import WilssError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"  # shipped inside the package (wheel and sdist)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LR_POLICIES = ("poly", "constant_then_poly", "warmup")
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
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=[*search_path_overrides(overrides), *overrides])
    except (HydraException, OmegaConfBaseException) as err:
        message = str(err).split("\nConfig search path")[0].strip()
        raise WilssError(f"invalid configuration ({' '.join(overrides) or 'defaults'}): {message}") from None
    validate(cfg)
    return cfg


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise WilssError(message)


def validate(cfg: DictConfig) -> None:
    """Cross-field rules, each failing with the option to change."""
    get_task(cfg.dataset.name, cfg.task.name, cfg.step)
    _check(not (cfg.overlap and cfg.dataset.name == "coco-voc"),
           "overlap=true is not defined for dataset=coco-voc (COCO-to-VOC is disjoint by construction); drop it.")
    _check(cfg.train.precision in PRECISIONS, f"train.precision={cfg.train.precision}: choose one of {PRECISIONS}.")
    _check(cfg.train.loss in ("bce", "ce"), f"train.loss={cfg.train.loss}: choose bce or ce.")
    _check(cfg.eval.mode in ("parity", "full"), f"eval.mode={cfg.eval.mode}: choose parity or full.")
    _check(cfg.model.init in BODY_INITS, f"model.init={cfg.model.init}: choose one of {BODY_INITS}.")
    for phase in ("base", "incremental"):
        policy = cfg.optim[phase].policy
        _check(policy in LR_POLICIES, f"optim.{phase}.policy={policy}: choose one of {LR_POLICIES}.")
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


def step_dir(cfg: DictConfig, step: int | None = None) -> Path:
    return run_dir(cfg) / f"step{cfg.step if step is None else step}"


def fully_supervised(cfg: DictConfig) -> bool:
    """Step 0, and the joint baseline at any step, learn from pixel labels with the base-step recipe."""
    return cfg.step == 0 or cfg.method.name == "joint"


def epochs_of(cfg: DictConfig) -> int:
    return cfg.train.epochs_base if fully_supervised(cfg) else cfg.train.epochs_incremental


def optim_phase(cfg: DictConfig) -> DictConfig:
    """The learning-rate section that applies to this step."""
    return cfg.optim.base if fully_supervised(cfg) else cfg.optim.incremental


def eval_batch_size(cfg: DictConfig) -> int:
    """Whole images differ in size, so full-image evaluation goes one image at a time."""
    return 1 if cfg.eval.mode == "full" else cfg.eval.batch_size


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)

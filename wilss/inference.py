"""A trained model ready for inference (`wilss eval`, `wilss predict`): a checkpoint of the kit or one written by
the original WILSON code, checked against the task it is used for.

The configuration is the one the Hydra overrides compose (as for `wilss train`: name the dataset, task, step and
model), or, without overrides, the one the checkpoint recorded. A checkpoint of the original code is the dict its
`torch.save` wrote: the model's weights under `model_state`, keys with the DDP prefix `module.` and otherwise the
kit's names (`body.*`, `head.*`, `cls.<t>.*`), no record of its task; its classifier sizes are checked instead. A
bare state dict (those weights saved alone, with or without the prefix) is read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from wilss import distributed
from wilss.checkpoint import check_contents, check_meta, load_checkpoint, run_meta
from wilss.config import load_config, validate
from wilss.data.tasks import Task
from wilss.engine.runtime import Runtime, resolve_runtime
from wilss.errors import WilssError
from wilss.spec import ModelSpec, resolve
from wilss.train import build_step_model

OPTION = "--checkpoint"
ORIGINAL_WEIGHTS = "model_state"   # where the original code's checkpoints keep the model
DDP_PREFIX = "module."
FIT_KEYS = ("order", "model")      # what a kit checkpoint must share with the task: the meaning of its weights
# The original code saved its best score as a numpy scalar (`val_score['Mean IoU']`); numpy scalars are plain data,
# so they are allowed to the weights-only unpickler (nothing else is).
_NUMPY_CORE = getattr(np, "_core", None) or np.core
NUMPY_SCALARS = [_NUMPY_CORE.multiarray.scalar, np.dtype,
                 *{type(np.dtype(kind)) for kind in (np.float64, np.float32, np.float16, np.int64, np.int32, np.bool_)}]


@dataclass(frozen=True)
class TrainedModel:
    """The model (eval mode, on its device) and what inference needs around it."""

    model: torch.nn.Module
    cfg: DictConfig
    task: Task
    class_names: list[str]
    dist: distributed.DistInfo
    run: Runtime
    original_format: bool

    @property
    def device(self) -> torch.device:
        return self.run.device

    @property
    def precision(self) -> str:
        return self.run.precision

    @property
    def channels_last(self) -> bool:
        return self.run.channels_last


def stored_model_spec(checkpoint: dict) -> ModelSpec | None:
    """The model a kit checkpoint records (`meta["model_spec"]`); None for the original code's and older ones."""
    stored = (checkpoint.get("meta") or {}).get("model_spec")
    return ModelSpec.from_dict(stored) if stored else None


def inference_config(checkpoint: dict, path: Path, overrides: list[str]) -> DictConfig:
    """The overrides' configuration, else the one recorded in the checkpoint."""
    if overrides:
        return load_config(overrides)
    recorded = (checkpoint.get("meta") or {}).get("config")
    if not recorded:
        raise WilssError(f"checkpoint '{path}' records no configuration (written by the original WILSON code?): "
                         "name its task with Hydra overrides as for training, e.g. dataset=voc task=15-5 step=1 "
                         "model=resnet101 dataset.root=/data/voc.")
    cfg = OmegaConf.create(recorded)
    validate(cfg)
    return cfg


def from_original(checkpoint: dict, path: Path) -> dict:
    """The original code's checkpoint in the kit's form: weights without the DDP prefix under modules.model."""
    state = checkpoint[ORIGINAL_WEIGHTS]
    if not isinstance(state, dict) or not state:
        raise WilssError(f"checkpoint '{path}' has an empty or malformed '{ORIGINAL_WEIGHTS}' (option {OPTION}); "
                         "it is not a checkpoint of the original code. Use another file.")
    return {"modules": {"model": {key.removeprefix(DDP_PREFIX): value for key, value in state.items()}}, "meta": {}}


def classifier_sizes(state: dict) -> list[int]:
    """Output channels of the per-step classifiers `cls.<t>.weight`, in step order."""
    sizes = {}
    for key, value in state.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "cls" and parts[1].isdigit() and parts[2] == "weight":
            sizes[int(parts[1])] = int(value.shape[0])
    return [sizes[step] for step in sorted(sizes)]


def check_fits(state: dict, path: Path, cfg: DictConfig, task: Task) -> None:
    """The checkpoint's classifiers have the task's sizes, and every weight fits the configured model."""
    found, expected = classifier_sizes(state), task.classes_per_step
    if found != expected:
        raise WilssError(
            f"checkpoint '{path}' does not fit the task (option {OPTION}): its classifiers have "
            f"{'+'.join(map(str, found)) or 'no'} classes ({sum(found)} in all, {len(found)} step(s)), but "
            f"dataset={cfg.dataset.name} task={cfg.task.name} step={cfg.step} has {'+'.join(map(str, expected))} "
            f"({sum(expected)} classes, {len(expected)} step(s)). Name the task and step the checkpoint was trained "
            "for (task=..., step=...).")


def load_weights(model: torch.nn.Module, state: dict, path: Path, cfg: DictConfig) -> None:
    """Strict load; a mismatch is one paragraph with the first differing keys and the options that decide them.
    A norm layer's num_batches_tracked may be missing (older InPlace-ABN files; the layer fills it in)."""
    own = model.state_dict()
    missing = [key for key in own if key not in state and not key.endswith("num_batches_tracked")]
    unexpected = [key for key in state if key not in own]
    reshaped = [f"{key} {tuple(state[key].shape)} where the model has {tuple(own[key].shape)}"
                for key in own if key in state and state[key].shape != own[key].shape]
    if missing or unexpected or reshaped:
        found = [f"{len(keys)} {what} (e.g. {', '.join(keys[:2])})"
                 for what, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                    ("differently shaped weights", reshaped)) if keys]
        raise WilssError(f"checkpoint '{path}' does not fit model={cfg.model.backbone} (option {OPTION}): "
                         f"{'; '.join(found)}. Choose the model it was trained with (model=...).")
    model.load_state_dict(state)


def load_trained_model(path: Path, overrides: list[str], device: str | None = None) -> TrainedModel:
    """Load `path` (either format), check that it fits the task of the configuration, build the model."""
    path = Path(path)
    with torch.serialization.safe_globals(NUMPY_SCALARS):
        checkpoint = load_checkpoint(path, OPTION)
    if not isinstance(checkpoint, dict):
        raise WilssError(f"checkpoint '{path}' holds a {type(checkpoint).__name__}, not a checkpoint dict (option "
                         f"{OPTION}). Use a final.pt of the kit or a checkpoint of the original code.")
    if checkpoint and all(isinstance(value, torch.Tensor) for value in checkpoint.values()):
        checkpoint = {ORIGINAL_WEIGHTS: checkpoint}  # a bare state dict: the original's model_state saved alone
    original = ORIGINAL_WEIGHTS in checkpoint and "modules" not in checkpoint
    if original:
        checkpoint = from_original(checkpoint, path)
    check_contents(checkpoint, path, resume=False, option=OPTION)
    cfg = inference_config(checkpoint, path, overrides)
    if device is not None:
        cfg = OmegaConf.merge(cfg, {"train": {"device": device}})
    step = resolve(cfg).current
    task = step.task
    expected = run_meta(task, cfg.overlap, cfg.model)
    check_meta(checkpoint, path, {key: expected[key] for key in FIT_KEYS}, OPTION)
    state = checkpoint["modules"]["model"]
    check_fits(state, path, cfg, task)
    dist = distributed.init_distributed(cfg.train.device)
    run = resolve_runtime(cfg.train, cfg.model, dist.device, dist.world_size)
    # The weights come from the checkpoint: no ImageNet file is read.
    model = build_step_model(stored_model_spec(checkpoint) or step.model.without_weights_file(), run)
    load_weights(model, state, path, cfg)
    names = (checkpoint.get("meta") or {}).get("class_names") or task.class_names()
    return TrainedModel(model.eval(), cfg, task, list(names), dist, run, original)

"""A chain resolved once: frozen, typed facts of the run and each of its steps, derived from the composed config.

Everything that asks "which task, which files, how many epochs, which learning-rate section, which model" of a
step reads a `StepSpec` of `resolve(cfg)` instead of re-deriving it from the raw config; the config keeps the
knobs (batch size, intervals, ...) that are read as they are. No torch here: the launch layer resolves chains on
login nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from wilss.data.tasks import Task, get_task
from wilss.layout import RunLayout, StepLayout
from wilss.model_spec import ModelSpec, model_spec


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


def recipe_of(cfg: DictConfig, step: int) -> StepRecipe:
    if step == 0:
        return STEP0
    method = cfg.method
    return StepRecipe(method.name, weak=method.labels == "image", seen_classes=method.classes == "seen",
                      base_recipe=method.recipe == "base", from_previous=method.init == "previous_step")


@dataclass(frozen=True)
class StepSpec:
    """One step of the chain, resolved."""

    index: int
    task: Task                      # the step's classes: old, new, future
    training_task: Task             # what it trains: the task, or every class seen so far as one (joint)
    recipe: StepRecipe
    files: StepLayout
    epochs: int
    optim: DictConfig = field(hash=False)      # the learning-rate section of the step (optim.base | incremental)
    localizer_epochs: int                      # epochs at a constant learning rate before the pseudo-labels (WILSON)
    model: ModelSpec
    previous_task: Task | None = None          # step t-1's, for steps that start from it
    previous_model: ModelSpec | None = None    # step t-1's model: the frozen old model
    previous_final: Path | None = None         # step t-1's final weights (step_ckpt= or the run's own)


@dataclass(frozen=True)
class ChainSpec:
    """A run: its layout, every step of its task, and which one this process runs (`cfg.step`)."""

    cfg: DictConfig = field(hash=False)
    layout: RunLayout
    steps: tuple[StepSpec, ...]

    @property
    def current(self) -> StepSpec:
        return self.steps[self.cfg.step]

    def step(self, index: int) -> StepSpec:
        return self.steps[index]


def run_dir(cfg: DictConfig, base: Path | None = None) -> Path:
    """<output_root>/<dataset>-<task>[-ov]/<name>, unless `run_dir` is set; absolute, so every process and every
    record (manifests, logs, status) names the same folder. A relative one is taken from `base` (default: the
    working directory; a queued job's: Slurm's WorkDir)."""
    suffix = "-ov" if cfg.overlap else ""
    path = Path(cfg.run_dir or Path(cfg.output_root) / f"{cfg.dataset.name}-{cfg.task.name}{suffix}" / cfg.name)
    return (base or Path.cwd()) / path if not path.is_absolute() else path


def resolve(cfg: DictConfig) -> ChainSpec:
    """Resolve every step of the configured chain once (the config was validated when it was composed)."""
    layout = RunLayout(run_dir(cfg))
    num_steps = get_task(cfg.dataset.name, cfg.task.name, 0).num_steps
    steps = tuple(_step_spec(cfg, layout, index) for index in range(num_steps))
    return ChainSpec(cfg, layout, steps)


def _step_spec(cfg: DictConfig, layout: RunLayout, index: int) -> StepSpec:
    task = get_task(cfg.dataset.name, cfg.task.name, index)
    recipe = recipe_of(cfg, index)
    previous_task = get_task(cfg.dataset.name, cfg.task.name, index - 1) if recipe.from_previous else None
    previous_final = None
    if recipe.from_previous:
        own = cfg.step_ckpt if index == cfg.step else None  # step_ckpt= names the checkpoint of the step it runs
        previous_final = Path(own) if own else layout.step(index - 1).final
    return StepSpec(
        index=index, task=task, training_task=task.merged() if recipe.seen_classes else task, recipe=recipe,
        files=layout.step(index),
        epochs=cfg.train.epochs_base if recipe.base_recipe else cfg.train.epochs_incremental,
        optim=cfg.optim.base if recipe.base_recipe else cfg.optim.incremental,
        localizer_epochs=0 if recipe.base_recipe else cfg.method.pseudo_ep,
        model=model_spec(cfg, task.classes_per_step, recipe.from_previous), previous_task=previous_task,
        previous_model=model_spec(cfg, previous_task.classes_per_step, from_previous=True) if previous_task else None,
        previous_final=previous_final)

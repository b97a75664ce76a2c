"""Train one step: `python -m wilss.train [Hydra overrides]` (under torchrun for several processes).

Reads top to bottom: setup → data → model → method and optimizer → resume or start → loop → final
checkpoint and evaluation. Rerunning a finished step only re-reads its results; rerunning an interrupted step
resumes from its `last.pt`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel

from wilss import distributed
from wilss.atomic import remove_leftover_temporaries
from wilss.checkpoint import check_fits, code_version, load_checked, run_meta, save_checkpoint
from wilss.cli import read_overrides
from wilss.core import configure_determinism, log, setup_logging
from wilss.config import eval_batch_size, load_config, printed_config, to_yaml
from wilss.data.build import build_eval_datasets, build_training_stream, subset_size
from wilss.data.check import check_step_data
from wilss.engine.evaluate import eval_loader, evaluate
from wilss.engine.hooks import CheckpointHook, ProgressHook, StopHook, ValidationHook
from wilss.engine.interrupt import EvaluationInterrupted, StopRequest, TrainingInterrupted
from wilss.engine.loader import StopSafeLoader
from wilss.engine.loggers import MetricLoggers
from wilss.engine.optim import build_optimizer, build_schedule
from wilss.engine.precision import grad_scaler
from wilss.engine.runtime import Runtime, resolve_runtime
from wilss.engine.trainer import Progress, Trainer
from wilss.errors import WilssError, exit_on_user_error
from wilss.layout import StepLayout
from wilss.methods import METHODS, MethodContext
from wilss.metrics import ConfusionMatrix, markdown_table, summarize, write_results
from wilss.models import build_model, prepack
from wilss.models.fold import fold_norms
from wilss.spec import ChainSpec, ModelSpec, StepSpec, resolve

def build_step_model(spec: ModelSpec, run: Runtime) -> torch.nn.Module:
    """The model of a step on the device. ImageNet weights only matter for step 0: later steps start from
    step t-1, so their spec names none (the original required them for every step; docs/fidelity.md)."""
    model = build_model(**spec.to_dict(), sync_bn=run.sync_bn).to(run.device)
    return model.to(memory_format=torch.channels_last) if run.channels_last else model


def final_evaluation(cfg: DictConfig, task, model, dist, run: Runtime, out: StepLayout,
                     stop: StopRequest | None = None, evaluated: dict[str, ConfusionMatrix] | None = None) -> dict:
    """Evaluate the final model on every evaluation set of the step; rank 0 writes the results files. A set in
    `evaluated` (the validation after the last epoch, on these same weights) is not evaluated twice. A stop
    request ends it early with `TrainingInterrupted` (`final.pt` is saved: the restarted step evaluates it)."""
    results = {"dataset": task.dataset, "task": task.name, "step": task.step, "overlap": bool(cfg.overlap),
               "name": cfg.name, "eval_mode": cfg.eval.mode, "sets": {}}
    for name, dataset in build_eval_datasets(cfg.dataset, task, cfg.eval.mode).items():
        if evaluated and name in evaluated:
            log.info("final evaluation on %s: the validation after the last epoch, on the same weights", name)
            matrix = evaluated[name]
        else:
            matrix = _evaluate_set(cfg, task, model, dist, run, dataset, stop)
        results["sets"][name] = summarize(matrix.iou(), task.num_old, task.class_names())
        results["sets"][name]["pixel_accuracy"] = matrix.pixel_accuracy()
    if dist.is_main:
        write_results(out, results)
        rows = [{"run": f"{cfg.name} ({set_name})", "step": task.step, **summary}
                for set_name, summary in results["sets"].items()]
        table = markdown_table(rows, *group_labels(task))
        out.results_table.write_text(table + "\n")
        log.info("results (mIoU %%):\n%s", table)
    return results


def _evaluate_set(cfg: DictConfig, task, model, dist, run: Runtime, dataset,
                  stop: StopRequest | None) -> ConfusionMatrix:
    loader = eval_loader(dataset, dist, eval_batch_size(cfg), cfg.train.num_workers)
    try:
        return evaluate(model, loader, len(task.order), run.device, run.precision, run.channels_last, stop=stop)[0]
    except EvaluationInterrupted as stopped:
        log.warning("stop requested (%s) during the final evaluation; it runs again at the restart", stopped.reason)
        raise TrainingInterrupted(stopped.reason) from None


def group_labels(task) -> tuple[str, str]:
    """Column names as in the papers: label ranges of the old and new classes, e.g. '1-15' and '16-20'."""
    last, first_new = len(task.order) - 1, task.num_old
    if task.step == 0:
        return f"old 1-{last}", "new –"
    return f"old 1-{first_new - 1}", f"new {first_new}-{last}"


@dataclass(frozen=True)
class StepCheckpoints:
    """The checkpoints a step starts from, loaded and checked before anything is written: its own final
    weights (the step is done), its resume state, and step t−1's final weights (weak steps)."""

    final: dict | None = None
    last: dict | None = None
    previous: dict | None = None


def load_step_checkpoints(cfg: DictConfig, step: StepSpec) -> StepCheckpoints:
    expected = run_meta(step.task, cfg.overlap, cfg.model)
    out = step.files
    if out.final.exists():
        return StepCheckpoints(final=load_checked(out.final, expected, "run_dir"))
    last = None
    if out.last.exists():
        last = load_checked(out.last, expected, "run_dir", resume=True)
    previous = None
    if step.recipe.from_previous:
        previous = load_checked(step.previous_final, run_meta(step.previous_task, cfg.overlap, cfg.model),
                                "step_ckpt")
    return StepCheckpoints(last=last, previous=previous)


def load_previous_step(cfg: DictConfig, step: StepSpec, model: torch.nn.Module, run: Runtime,
                       checkpoint: dict) -> torch.nn.Module:
    """Initialise step t from step t−1's final weights and return those weights as the frozen old model.

    Every key of the checkpoint must fit the new model, and the new model may lack only the new classifier:
    anything else fails loudly instead of silently loading nothing (the original loaded non-strictly; docs/fidelity.md)."""
    path, task = step.previous_final, step.task
    state = checkpoint["modules"]["model"]
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise WilssError(f"checkpoint '{path}' does not fit the model of step {task.step}: {err}") from None
    new_classifier = f"cls.{task.step}."
    wrong = [key for key in missing if not key.startswith(new_classifier)] + list(unexpected)
    if wrong:
        raise WilssError(f"checkpoint '{path}' does not fit the model of step {task.step}: mismatched keys "
                         f"{wrong[:5]}. Was it trained with another model.* configuration?")
    old_model = build_step_model(step.previous_model, run)
    old_model.load_state_dict(state)
    old_model.eval().requires_grad_(False)
    if cfg.train.fold_frozen_norms:
        fold_norms(old_model)
    if cfg.train.cast_frozen_model and run.precision in ("bf16", "fp16"):
        cast_weights(old_model, torch.bfloat16 if run.precision == "bf16" else torch.float16)
    if cfg.train.prepack_frozen_model and prepack.available(run.device, run.precision):
        prepack.prepack_convs(old_model)
    return old_model


def cast_weights(model: torch.nn.Module, dtype: torch.dtype) -> None:
    """A frozen model that only runs under autocast: its conv and linear weights are stored in the autocast
    dtype once, instead of being cast every iteration (autocast caches casts only of trainable weights). Norm
    layers stay in fp32, as autocast computes them."""
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            module.to(dtype)


def build_method(cfg: DictConfig, step: StepSpec, model: torch.nn.Module, dist, run: Runtime,
                 previous: dict | None):
    """The registered method of the step (wilss/methods/), given step t−1 (`previous`, already checked) as the
    frozen old model when it starts from there."""
    def wrap(module: torch.nn.Module) -> torch.nn.Module:
        """What the forward pass calls: DDP across processes, torch.compile'd on request (state_dict and
        optimizer stay on the plain module)."""
        network = DistributedDataParallel(module) if dist.world_size > 1 else module
        return torch.compile(network) if run.compile else network

    old_model = load_previous_step(cfg, step, model, run, previous) if step.recipe.from_previous else None
    context = MethodContext(cfg, step.task, model, wrap, old_model, run.device, run.channels_last, run.sync_bn)
    return METHODS.build(step.recipe.method, context)


def evaluate_finished_step(cfg: DictConfig, step: StepSpec, final: dict, dist, run: Runtime,
                           stop: StopRequest | None) -> dict:
    """A step that already has its final checkpoint is not trained again: its weights are (re-)evaluated."""
    model = build_step_model(step.model, run)
    model.load_state_dict(final["modules"]["model"])
    log.info("step already trained (%s): evaluating its final weights", step.files.final)
    return final_evaluation(cfg, step.task, model, dist, run, step.files, stop)


def later_iterations(cfg: DictConfig, chain: ChainSpec) -> int:
    """Iterations of the chain's steps after this one, for the chain's ETA: each step's training subset at this
    batch size (replay left out). VOC's steps read the index this step has built; 0 when a later step's data
    cannot be read yet (it is reported when that step starts)."""
    total = 0
    for later in chain.steps[cfg.step + 1:]:
        try:
            images = subset_size(cfg.dataset, later.training_task, cfg.overlap)
        except WilssError:
            return 0
        total += later.epochs * (images // cfg.train.batch_size)
    return total


def build_trainer(cfg: DictConfig, step: StepSpec, dist, run: Runtime, previous: dict | None) -> Trainer:
    """A step's training loop and everything it drives: data stream, model, method, optimizer, schedule."""
    # The joint baseline trains every class seen so far at once, on all their images (`training_task`).
    train_set, sampler = build_training_stream(cfg, step.training_task, step.recipe.weak, dist.rank,
                                               dist.world_size)
    workers = cfg.train.num_workers
    # Its own generator: creating the loader again after a resume must not draw from the global one.
    loader = StopSafeLoader(train_set, batch_size=sampler.local_batch, sampler=sampler, num_workers=workers,
                            pin_memory=dist.device.type == "cuda", persistent_workers=workers > 0,
                            generator=torch.Generator())
    model = build_step_model(step.model, run)
    method = build_method(cfg, step, model, dist, run, previous)
    optimizer = build_optimizer(method.param_groups(step.optim), cfg.optim)
    progress = Progress(epochs=step.epochs, iters_per_epoch=sampler.batches_per_epoch())
    # WILSON's localizer-only epochs keep the incremental learning rate constant (optim.*.policy decides)
    constant_iters = step.localizer_epochs * progress.iters_per_epoch
    schedule = build_schedule(optimizer, step.optim.policy, progress.max_iters, cfg.optim.poly_power, constant_iters)
    return Trainer(method, optimizer, schedule, grad_scaler(run.device, run.precision), loader, sampler, progress,
                   run.device, run.precision, run.channels_last)


def main(cfg: DictConfig, stop: StopRequest | None = None) -> dict:
    """Train (or resume, or re-evaluate) one step; return its results. A launcher that passes `stop` may ask
    the run to end early: it then saves its resume checkpoint and raises `TrainingInterrupted`."""
    # --- setup -------------------------------------------------------------------------------------------
    dist = distributed.init_distributed(cfg.train.device)
    chain = resolve(cfg)
    step = chain.current
    task, out = step.task, step.files
    if cfg.train.batch_size % dist.world_size:
        raise WilssError(f"train.batch_size={cfg.train.batch_size} is not divisible by the {dist.world_size} "
                         "processes; choose a multiple of the world size.")
    # Every input is checked before the step directory is touched: a refused run leaves no trace.
    check_step_data(cfg, task)
    inputs = load_step_checkpoints(cfg, step)
    setup_logging(out.train_log, dist.is_main)
    if dist.is_main:
        out.config.write_text(to_yaml(cfg))
    torch.manual_seed(cfg.seed + dist.rank)
    configure_determinism(cfg.train.deterministic)
    run = resolve_runtime(cfg.train, cfg.model, dist.device, dist.world_size)
    log.info("step %d of %s-%s%s (%s), %d process(es) on %s, precision %s", task.step, task.dataset, task.name,
             "-ov" if cfg.overlap else "", cfg.name, dist.world_size, dist.device, run.precision)

    if dist.is_main:
        for leftover in remove_leftover_temporaries(out.checkpoints):  # no other writer: this run owns the step
            log.info("removed %s, left by a save that was killed", leftover)
    if inputs.final is not None:
        return evaluate_finished_step(cfg, step, inputs.final, dist, run, stop)

    # --- data, model, method, optimizer, schedule ---------------------------------------------------------
    trainer = build_trainer(cfg, step, dist, run, inputs.previous)
    model, progress = trainer.method.model, trainer.progress
    val_set = build_eval_datasets(cfg.dataset, task, cfg.eval.mode)["val"]
    val_loader = eval_loader(val_set, dist, eval_batch_size(cfg), cfg.train.num_workers)

    # --- resume or start ---------------------------------------------------------------------------------
    resumed_meta: dict = {}
    if inputs.last is not None:
        check_fits(inputs.last, trainer.method.modules(), out.last, "run_dir")
        trainer.load_resume_state(inputs.last, dist.rank)
        resumed_meta = inputs.last["meta"]
        log.info("resumed from %s at epoch %d, iteration %d", out.last, progress.epoch, progress.iteration)

    # --- hooks and loop ----------------------------------------------------------------------------------
    board = MetricLoggers(list(cfg.train.loggers), out if dist.is_main else None,
                          progress.global_iteration if inputs.last is not None else None)
    eval_cfg = {"device": run.device, "precision": run.precision, "channels_last": run.channels_last}
    validation = ValidationHook(cfg.train.val_interval, val_loader, task, eval_cfg, board, dist.is_main,
                                cfg.train.image_panels, stop)
    validation.last_metrics = resumed_meta.get("metrics") or {}
    validation.owed = bool(resumed_meta.get("validation_owed"))

    fixed_meta = run_meta(task, cfg.overlap, cfg.model) | {
        "class_names": task.class_names(), "code_version": code_version(), "model_spec": step.model.to_dict(),
        "config": OmegaConf.to_container(cfg, resolve=True)}

    def meta() -> dict:
        return fixed_meta | {"progress": progress.state_dict(), "metrics": validation.last_metrics,
                             "validation_owed": validation.owed}

    checkpoint = CheckpointHook(out.last, cfg.train.checkpoint_interval, meta, dist.is_main)
    trainer.hooks = [
        ProgressHook(cfg.train.log_interval, cfg.train.batch_size, board, dist.is_main,
                     later_iterations(cfg, chain)),
        validation,  # before the checkpoint: the sidecar then carries the latest metrics
        checkpoint,
        *([StopHook(stop, checkpoint)] if stop else []),
    ]
    log.info("%d training images, %d iterations per epoch, %d epochs", len(trainer.loader.dataset),
             progress.iters_per_epoch, progress.epochs)
    try:
        trainer.train()
    finally:
        board.close()

    # --- final checkpoint and evaluation -----------------------------------------------------------------
    if dist.is_main:
        save_checkpoint(out.final, {"modules": {"model": model.state_dict()}}, meta())
    distributed.barrier()
    evaluated = {"val": validation.final_matrix} if validation.final_matrix is not None else {}
    return final_evaluation(cfg, task, model, dist, run, out, stop, evaluated)


USAGE = """usage: python -m wilss.train [--cfg [job] [--resolve]] [key=value | group=option ...]

Train one step of an incremental segmentation task. Overrides are Hydra syntax, e.g.
  python -m wilss.train experiment=demo
  python -m wilss.train dataset=voc dataset.root=/data/voc task=15-5 step=0 overlap=true
Groups: dataset (voc, coco-voc, synthetic), task, model, method (wilson, ft, joint), optim, train, eval,
replay, web, launch, experiment, mode (default | reference: the original code's arithmetic, to compare with the
paper's code).
--cfg prints the composed configuration and exits; --resolve resolves its ${...} interpolations. The project's
README maps the original code's flags to overrides.
"""


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    args = read_overrides(argv, USAGE)
    if args is None:
        return
    if printed_config(args):
        return
    cfg = load_config(args)
    try:
        main(cfg)
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    cli()

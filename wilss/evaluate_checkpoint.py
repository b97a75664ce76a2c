"""`wilss eval --checkpoint FILE [--out DIR] [key=value ...]`: evaluate a checkpoint on the evaluation sets of a
configuration, with the papers' protocol, and write the same results files as a training step.

The checkpoint is the kit's (`final.pt`) or one written by the original WILSON code (`wilss.inference`). The
results are those of `wilss.train.final_evaluation`: old / new / all mIoU and IoU per class on every evaluation set
of the step (eval.mode=parity: central crop, as the papers; eval.mode=full: whole images), in
results.{json,csv,md} of the output folder, with eval.log beside them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from omegaconf import DictConfig

from wilss import distributed
from wilss.core import log, setup_logging
from wilss.errors import exit_on_user_error
from wilss.inference import OPTION, load_trained_model
from wilss.layout import StepLayout
from wilss.train import final_evaluation

DESCRIPTION = """Evaluate a checkpoint (the kit's final.pt, or one of the original WILSON code: 'model_state' with
the DDP 'module.' prefix) on the evaluation sets of a configuration; write results.json, results.csv and
results.md (old / new / all mIoU, IoU per class) as a training step does.

The configuration is composed from the Hydra overrides as for `wilss train` (name the dataset, task, step, model
and dataset.root; eval.mode=full evaluates whole images instead of the papers' central crop); without overrides,
the configuration the checkpoint recorded is used. The checkpoint must fit the task: same class order and
classifier sizes, same backbone and output stride; otherwise the error says what differs.

Examples:
  wilss eval --checkpoint outputs/synthetic-15-5/demo/step1/checkpoints/final.pt
  wilss eval --checkpoint wilson_15-5_step1.pth dataset=voc dataset.root=/data/voc task=15-5 step=1 eval.mode=full
"""


def default_out(cfg: DictConfig) -> Path:
    return Path("eval") / f"{cfg.dataset.name}-{cfg.task.name}{'-ov' if cfg.overlap else ''}-step{cfg.step}"


def evaluate_checkpoint(checkpoint: Path, overrides: list[str], out: Path | None = None,
                        device: str | None = None) -> dict:
    """Evaluate and write the results files into `out`; return the results."""
    trained = load_trained_model(checkpoint, overrides, device)
    layout = StepLayout(Path(out) if out is not None else default_out(trained.cfg))
    setup_logging(layout.dir / "eval.log", trained.dist.is_main)  # under torchrun, rank 0 writes
    log.info("evaluating %s%s on %s %s step %d (eval.mode=%s, %s, precision %s)", checkpoint,
             " (original code's format)" if trained.original_format else "", trained.cfg.dataset.name,
             trained.task.name, trained.task.step, trained.cfg.eval.mode, trained.device, trained.precision)
    results = final_evaluation(trained.cfg, trained.task, trained.model, trained.dist, trained.run, layout)
    log.info("results written to %s", layout.results)
    return results


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="wilss eval", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(OPTION, required=True, type=Path, metavar="FILE", help="the checkpoint to evaluate")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the results files (default: eval/<dataset>-<task>[-ov]-step<t>)")
    parser.add_argument("--device", default=None,
                        help="auto, cpu, cuda or cuda:N (default: the configuration's train.device)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="Hydra overrides, as for wilss train")
    args = parser.parse_intermixed_args(argv)
    try:
        evaluate_checkpoint(args.checkpoint, args.overrides, args.out, args.device)
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    cli()

"""Run every step of a task in order on this machine: `python -m wilss.chain [Hydra overrides]`.

Step t starts from step t−1's final checkpoint in the same run directory. A step that already finished is
only re-evaluated, an interrupted one resumes, so rerunning the command continues where it stopped. The
papers' table (mIoU old / new / all after every step) is printed at the end and written to
`<run dir>/results.md` (also by the Slurm planners after the last step: `wilss.launch.chain_report`); with `expected=NAME` (the demo
sets it) the recorded results of wilss/expected.yaml follow, beside the measured ones, with the verdict. Sweep values on the command
line (`seed=0,1 method=wilson,ft`) run one chain per point (`wilss.sweep`) and write the sweep's report.
"""

from __future__ import annotations

import json

from omegaconf import DictConfig

from wilss import distributed
from wilss.cli import read_overrides
from wilss.config import load_config, printed_config
from wilss.core import log
from wilss.errors import WilssError, exit_on_user_error
from wilss.expected import load_expected, measured_steps, verdict
from wilss.metrics import markdown_table
from wilss.report import write_report
from wilss.spec import resolve
from wilss.sweep import expand, is_sweep, prepare
from wilss.train import group_labels, main


def run_chain(overrides: list[str], last_step: int | None = None) -> list[dict]:
    """Train steps 0..last (default: the task's last step); return each step's results."""
    num_steps = len(resolve(load_config(overrides)).steps)
    last = num_steps - 1 if last_step is None else last_step
    return [main(load_config([*overrides, f"step={step}"])) for step in range(last + 1)]


def read_step_results(cfg: DictConfig, step: int) -> dict:
    return json.loads(resolve(cfg).layout.step(step).results.read_text())


def write_chain_report(cfg: DictConfig, results: list[dict]) -> str:
    """The papers' table, one row per step on the validation set, with the last step's old/new column names;
    written to `<run dir>/results.md` and returned."""
    rows = [{"run": cfg.name, "step": r["step"], **r["sets"]["val"]} for r in results]
    chain = resolve(cfg)
    old, new = group_labels(chain.step(results[-1]["step"]).task)
    header = f"{cfg.dataset.name} {cfg.task.name}{' overlap' if cfg.overlap else ''} — mIoU % on val ({old}, {new})"
    report = f"{header}\n\n{markdown_table(rows, 'old', 'new')}\n"
    chain.layout.results_table.write_text(report)
    return report


def end_of_chain(cfg: DictConfig, results: list[dict], overrides: list[str]) -> str:
    """What a finished chain prints, wherever it ran (`wilss chain`, the last step's Slurm job): the table (also
    written to results.md) and, when the config names recorded results (`expected=`), the verdict beside them."""
    text = "\n" + write_chain_report(cfg, results)
    if cfg.expected:
        text += "\n" + verdict(load_expected(cfg.expected), measured_steps(results), overrides)
    return text


def run_sweep(overrides: list[str]) -> list[str]:
    """Every point's chain in turn (a shared step 0 is trained once, then only re-evaluated); a failing point
    does not stop the others. Writes each point's table and the sweep's report; returns the failed points."""
    sweep = expand(overrides)
    prepare(sweep)
    failed = []
    for point in sweep.points:
        steps = [[*sweep.overrides_for(point, step), f"step={step}"] for step in range(point.length)]
        try:
            results = [main(load_config(step)) for step in steps]
        except Exception as err:  # noqa: BLE001 - reported, and the other points still run
            log.error("point %s failed: %s: %s", point.name, type(err).__name__, err)
            failed.append(point.name)
            continue
        print("\n" + write_chain_report(load_config(steps[-1]), results))
    if len(failed) < len(sweep.points):
        print(write_report([sweep.directory], sweep.layout.report).markdown)
    return failed


USAGE = """usage: python -m wilss.chain [--cfg [job] [--resolve]] [-m] [key=value | group=option ...]

Train all steps of the task in order (step 0, then every incremental step), then print old / new / all mIoU
after each step. Same overrides as `python -m wilss.train`, e.g.
  python -m wilss.chain experiment=demo
  python -m wilss.chain dataset.root=/data/voc task=15-1 overlap=true
  python -m wilss.chain experiment=demo seed=0,1 method=wilson,ft        # a sweep: one chain per point
Sweep values (a,b or range(n)) run one chain per point under sweep_dir=, then write its report (-m, Hydra's
multirun flag, is accepted and changes nothing). --cfg prints the composed configuration and exits (a sweep's:
each point's, under a '# key=value' line); --resolve resolves its ${...} interpolations.
"""


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    args = read_overrides(argv, USAGE)
    if args is None or printed_config(args, expand):
        return
    try:
        if is_sweep(args):
            failed = run_sweep(args)
            if failed:
                raise WilssError(f"{len(failed)} point(s) of the sweep failed: {', '.join(failed)}; see their "
                                 "train.log. Run the same command again to resume them.")
            return
        cfg = load_config(args)
        if cfg.expected:
            load_expected(cfg.expected)  # an unknown name fails before training, not after it
        results = run_chain(args)
    finally:
        distributed.shutdown()
    print(end_of_chain(cfg, results, args))


if __name__ == "__main__":
    cli()

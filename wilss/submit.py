"""Submit a task's chain of steps: `python -m wilss.submit [Hydra overrides]`.

On Slurm (`cluster=slurm`, or `auto` when sbatch is on PATH) every step that still has to run becomes one
submitit job, step t `afterok` step t−1, and the command returns at once with the job ids. On this machine
(`cluster=local`) the same jobs run one after the other and the command returns when the chain is done.
Submitting again is safe: finished steps are skipped and queued ones reused (see `wilss.launch.submitter`).
Sweep values (`seed=0,1,2 method=wilson,ft`) submit one chain per point, each step of the sweep as job arrays
(see `wilss.launch.sweep`).
Exit status: 0 = submitted or finished, 2 = bad input, 3 = a step failed (or, with launch.wait=true, the chain
did not finish).
"""

from __future__ import annotations

import sys
import time

from submitit.core.utils import FailedJobError, UncompletedJobError

from wilss.cli import read_overrides
from wilss.config import load_config, printed_config
from wilss.errors import exit_on_user_error
from wilss.launch import slurm
from wilss.launch.step import StepJob
from wilss.launch.submitter import submit_chain
from wilss.launch.sweep import submit_sweep
from wilss.report import report_if_sweep_finished, write_report
from wilss.spec import resolve
from wilss.sweep import expand, is_sweep

EXIT_CHAIN_FAILED = 3

DESCRIBE = {
    "done": "finished, skipped",
    "active": "already queued or running as job {job_id} ({state}), kept",
    "submitted": "submitted as job {job_id}",
    "failed": "job {job_id} ended {state}; not resubmitted (add launch.resubmit_failed=true)",
    "blocked": "waits for the failed step before it; not submitted",
}


def wait_for(job_ids: list[str | None], poll_s: float = 5.0) -> None:
    """Until none of these jobs is queued or running any more."""
    job_ids = [job_id for job_id in job_ids if job_id]
    while any(slurm.job_state(job_id)[0] in slurm.ACTIVE_STATES for job_id in job_ids):
        time.sleep(poll_s)


USAGE = """usage: python -m wilss.submit [--cfg [job] [--resolve]] [-m] [key=value | group=option ...]

Queue every step of the task (step t waits for step t-1 with afterok), e.g.
  python -m wilss.submit task=10-10 dataset.root=/data/voc launch.nodes=2 launch.tasks_per_node=4
  python -m wilss.submit experiment=demo cluster=local
  python -m wilss.submit experiment=demo seed=0,1,2 method=wilson,ft     # a sweep: one chain per point
Resources: launch.{nodes,tasks_per_node,gpus_per_node,cpus_per_task,mem_gb,timeout_min,partition,account,qos,
constraint,additional,setup,array_parallelism}; cluster=slurm|local|auto; sweep_dir=.
Follow a run with python -m wilss.status RUN_DIR. --cfg prints the composed configuration and exits (nothing is
queued; a sweep: each point's), --resolve with its interpolations resolved; -m is accepted (comma values
already sweep).
"""


def submit_sweep_cli(args: list[str]) -> None:
    """A sweep: one line per unit (shared step 0, then each point's steps), the arrays, the exit status."""
    sweep, cluster, units, arrays = submit_sweep(args)
    print(f"sweep directory: {sweep.directory} ({cluster}, {len(sweep.points)} points)")
    for unit in units:
        described = DESCRIBE[unit.plan.action].format(job_id=unit.plan.job_id, state=unit.plan.state)
        print(f"  {unit.label}: {described}")
    for array in arrays:
        waits = f", {array.dependency}" if array.dependency else ""
        print(f"  step {array.step}: job array {array.job_id} ({array.size} tasks{waits})")
    if cluster == "local" and any(unit.plan.action in ("done", "submitted") for unit in units):
        print(write_report([sweep.directory], sweep.layout.report).markdown)
    elif arrays or any(unit.plan.action == "active" for unit in units):
        print(f"follow it: python -m wilss.status {sweep.directory}")
        if load_config(list(sweep.points[0].overrides)).launch.wait:
            wait_for([unit.plan.job_id for unit in units])
            if not all(unit.files.finished() for unit in units):
                print(f"wilss: the sweep did not finish; see python -m wilss.status {sweep.directory}",
                      file=sys.stderr)
                sys.exit(EXIT_CHAIN_FAILED)
            report_if_sweep_finished(sweep.directory)
    if any(unit.plan.action in ("failed", "blocked") for unit in units):
        sys.exit(EXIT_CHAIN_FAILED)


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    args = read_overrides(argv, USAGE)
    if args is None or printed_config(args, expand):
        return
    if is_sweep(args):
        submit_sweep_cli(args)
        return
    try:
        cfg, cluster, plans, report = submit_chain(args, StepJob)
    except (FailedJobError, UncompletedJobError) as err:  # a local step failed: its log says why
        print(f"wilss: a step failed: {str(err).splitlines()[0]}", file=sys.stderr)
        sys.exit(EXIT_CHAIN_FAILED)
    layout = resolve(cfg).layout
    directory = layout.root
    print(f"run directory: {directory} ({cluster})")
    for plan in plans:
        print(f"  step {plan.step}: {DESCRIBE[plan.action].format(job_id=plan.job_id, state=plan.state)}")
    if cluster == "slurm" and any(plan.job_id for plan in plans if plan.action in ("active", "submitted")):
        print(f"follow it: python -m wilss.status {directory}\n"
              f"           tail -f {directory}/step*/train.log; tensorboard --logdir {directory}")
        if cfg.launch.wait:  # for the steps and the report job after them
            wait_for([*(plan.job_id for plan in plans), report and str(report.job_id)])
    if any(plan.action in ("failed", "blocked") for plan in plans):
        sys.exit(EXIT_CHAIN_FAILED)
    finished = all(layout.step(plan.step).finished() for plan in plans)
    if (cluster == "local" or cfg.launch.wait) and not finished:
        print(f"wilss: the chain did not finish; see python -m wilss.status {directory}", file=sys.stderr)
        sys.exit(EXIT_CHAIN_FAILED)
    if finished and layout.results_table.is_file():
        print("\n" + layout.results_table.read_text())


if __name__ == "__main__":
    cli()

"""One step as a scheduler job, on every rank: `python -m wilss.launch.step [overrides]` under `srun` (the
sbatch scripts), or `StepJob` pickled by submitit (`python -m wilss.submit`). The same code either way:

1. torch's process-group variables from the scheduler's (`rendezvous`);
2. timeout and preemption signals only set a `StopRequest`; the training loop honours it at the next
   iteration boundary, where all ranks save one checkpoint together;
3. then rank 0 requeues the job when it should run on (a timeout, or a SIGTERM that did not come from Slurm
   ending the job) and every rank exits; the requeued job resumes from `last.pt` exactly;
4. the step's manifest records all of it; the last step's job also writes the chain's results table.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import torch

from wilss import distributed
from wilss.chain import read_step_results, write_chain_report
from wilss.cli import read_overrides
from wilss.config import load_config, step_dir, task_of
from wilss.core import log, sha256_of
from wilss.engine.interrupt import StopRequest, TrainingInterrupted
from wilss.errors import WilssError, exit_on_user_error
from wilss.launch import slurm
from wilss.launch.manifest import update_manifest
from wilss.launch.rendezvous import export_torch_env, is_main_process, slurm_job_id
from wilss.report import report_if_sweep_finished
from wilss.train import main as train_step


EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: the step stopped early with its checkpoint saved; run it again to resume
TIMEOUT_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)  # sbatch --signal: USR1 in our scripts, USR2 from submitit


def install_stop_signals(stop: StopRequest) -> None:
    """Replace any earlier handlers (submitit's would checkpoint inside the handler, mid-iteration)."""
    for timeout_signal in TIMEOUT_SIGNALS:
        signal.signal(timeout_signal, lambda *_: stop.request("timeout"))
    signal.signal(signal.SIGTERM, lambda *_: stop.request("terminated"))


def ignore_timeout_signals() -> None:
    """Once training is over a timeout signal has nothing left to stop, but it must not kill the process: at
    interpreter shutdown Python resets its handlers to the default action (terminate), so a signal arriving
    then turned a finished step into a FAILED job. An ignored signal stays ignored through shutdown."""
    for timeout_signal in TIMEOUT_SIGNALS:
        signal.signal(timeout_signal, signal.SIG_IGN)


def should_requeue(reason: str, job_id: str | None) -> bool:
    """A timeout always asks for more time. A SIGTERM that comes while Slurm still shows the job RUNNING is a
    preemption notice (or `scancel --signal=TERM`): requeue. Otherwise Slurm is ending the job itself (scancel
    → CANCELLED, `scontrol requeue` or preemption → requeued by Slurm) and must not be overruled."""
    if job_id is None:
        return False
    return reason == "timeout" or slurm.job_state(job_id)[0] == "RUNNING"


def after_interruption(stopped: TrainingInterrupted, directory, job_id: str | None, restarts: int,
                       max_requeues: int) -> None:
    """Rank 0: requeue (within the cap) and record what happened."""
    if not should_requeue(stopped.reason, job_id):
        update_manifest(directory, state="interrupted", reason=stopped.reason)
        return
    if restarts >= max_requeues:
        update_manifest(directory, state="failed", reason=f"{stopped.reason}; requeue cap reached")
        message = (f"step stopped ({stopped.reason}) after {restarts} restarts, the cap "
                   f"launch.max_requeues={max_requeues}: not requeueing. Raise the cap or the time limit, "
                   "then submit again with launch.resubmit_failed=true to resume from the checkpoint.")
        log.error(message)  # in train.log too, where the user follows the step
        raise WilssError(message)
    slurm.requeue(job_id)
    update_manifest(directory, state="requeued", reason=stopped.reason)
    log.warning("requeued job %s (%s); it will resume from the checkpoint", job_id, stopped.reason)


def match_threads_to_allocation() -> None:
    """Without OMP_NUM_THREADS torch starts a thread per core of the node, however many tasks share it."""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if cpus and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(int(cpus))


def run_step(overrides: list[str]) -> dict:
    """Train one step under a scheduler; return its results (the value submitit hands to the submitter)."""
    export_torch_env()
    match_threads_to_allocation()
    stop = StopRequest()
    install_stop_signals(stop)
    cfg = load_config(overrides)
    directory, is_main = step_dir(cfg), is_main_process()
    job_id = slurm_job_id()
    restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
    if is_main:
        update_manifest(directory, step=cfg.step, state="running", job_id=job_id, restarts=restarts,
                        host=os.uname().nodename)
    try:
        results = train_step(cfg, stop)
    except TrainingInterrupted as stopped:
        if is_main:
            after_interruption(stopped, directory, job_id, restarts, cfg.launch.max_requeues)
        raise SystemExit(EXIT_INTERRUPTED) from None  # not an Exception: submitit records no result
    except Exception as err:
        if is_main:
            update_manifest(directory, state="failed", reason=f"{type(err).__name__}: {err}"[:500])
        raise
    finally:
        ignore_timeout_signals()
        distributed.shutdown()
    if is_main:
        final = directory / "checkpoints" / "final.pt"
        update_manifest(directory, state="finished", final_sha256=sha256_of(final), reason=None)
        if cfg.step == task_of(cfg).num_steps - 1:
            print(write_chain_report(cfg, [read_step_results(cfg, s) for s in range(cfg.step)] + [results]))
            if cfg.sweep_dir:
                report_if_sweep_finished(Path(cfg.sweep_dir))  # the last point to finish writes the report
    return results


class StepJob:
    """What submitit pickles for one step: just the overrides, so a requeued job recomposes its config."""

    def __init__(self, overrides: list[str]) -> None:
        self.overrides = list(overrides)

    def __call__(self) -> dict:
        return run_step(self.overrides)


USAGE = """usage: python -m wilss.launch.step [key=value | group=option ...]

Run one step as a scheduler job (every rank runs this command, e.g. under srun). Timeout and preemption
signals checkpoint at the next iteration and requeue the job; see slurm/README.md.
"""


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    args = read_overrides(argv, USAGE)
    if args is not None:
        run_step(args)


if __name__ == "__main__":
    cli()

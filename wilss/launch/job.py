"""The body of one step's job, on every rank (started by `wilss.launch.step`, which installed the signal
handlers before importing this):

1. torch's process-group variables from the scheduler's (`rendezvous`);
2. timeout and preemption signals only set a `StopRequest`; the training loop honours it at the next
   iteration boundary (or inside an evaluation), where all ranks save one checkpoint together;
3. then rank 0 requeues the job when it should run on, and every rank exits; the requeued job resumes from
   `last.pt` exactly. A job that Slurm preempted for good raises `PreemptedForGood` instead: the step's launcher
   (`wilss.launch.step`) submits it again, so the job's body submits nothing itself;
4. the step's manifest records all of it. Reports are not the job's business: the planners write the chain's
   table (`wilss.launch.chain_report`) and the sweep's report (`wilss status`, `wilss report`).
"""

from __future__ import annotations

import os

import torch
from omegaconf import DictConfig

from wilss import distributed
from wilss.config import load_config
from wilss.core import log, sha256_of
from wilss.engine.interrupt import StopRequest, TrainingInterrupted
from wilss.errors import WilssError
from wilss.launch import slurm
from wilss.launch.manifest import update_manifest
from wilss.launch.rendezvous import export_torch_env, is_main_process, slurm_job_id
from wilss.launch.signals import ignore_timeout_signals
from wilss.spec import resolve
from wilss.train import main as train_step

EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: the step stopped early with its checkpoint saved; run it again to resume


class PreemptedForGood(Exception):
    """Slurm preempted the job and will not requeue it (PreemptMode=CANCEL); the step has saved its checkpoint.
    Raised on rank 0 for the launcher to submit the step again (`wilss.launch.preemption`)."""

    def __init__(self, cfg: DictConfig, overrides: list[str], job_id: str, reason: str) -> None:
        super().__init__(f"Slurm preempted job {job_id} for good ({reason})")
        self.cfg, self.overrides, self.job_id, self.reason = cfg, overrides, job_id, reason


def after_interruption(stopped: TrainingInterrupted, cfg: DictConfig, overrides: list[str], job_id: str | None,
                       restarts: int) -> None:
    """Rank 0, once the checkpoint is saved: requeue the job (within the cap) only while Slurm still runs it.
    The state is read now, after the save, not when the signal came: a `scancel` during the save (e.g. after a
    timeout signal) must win. Slurm ending the job itself (scancel, `scontrol requeue`, preemption with
    requeue) is never overruled; a preemption that cancels the job for good raises `PreemptedForGood`."""
    directory, max_requeues = resolve(cfg).current.files, cfg.launch.max_requeues
    if job_id is None:
        update_manifest(directory, state="interrupted", reason=stopped.reason)
        return
    ending = slurm.ending(job_id)
    requeues = slurm.preemption_requeues(job_id) if ending == "preempted" else True
    if requeues is False:  # PreemptMode=CANCEL: the job ends for good
        raise PreemptedForGood(cfg, overrides, job_id, stopped.reason)
    if requeues is None:
        log.warning("Slurm preempted job %s, and its QOS's PreemptMode cannot be read: not submitting the step "
                    "again. If the job ends PREEMPTED instead of being requeued, submit the chain again to resume "
                    "it from the checkpoint", job_id)
    if ending:
        update_manifest(directory, state=ending, reason=f"{stopped.reason}; Slurm {ending} the job")
        log.warning("Slurm %s job %s (%s): not requeueing it", ending, job_id, stopped.reason)
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


def run_job(overrides: list[str], stop: StopRequest) -> dict:
    """Train one step under a scheduler; return its results (the value submitit hands to the submitter)."""
    export_torch_env()
    match_threads_to_allocation()
    cfg = load_config(overrides)
    directory, is_main = resolve(cfg).current.files, is_main_process()
    job_id = slurm_job_id()
    restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
    if is_main:
        update_manifest(directory, step=cfg.step, state="running", job_id=job_id, restarts=restarts,
                        host=os.uname().nodename)
    try:
        results = train_step(cfg, stop)
    except TrainingInterrupted as stopped:
        if is_main:
            after_interruption(stopped, cfg, overrides, job_id, restarts)
        raise SystemExit(EXIT_INTERRUPTED) from None  # not an Exception: submitit records no result
    except Exception as err:
        if is_main:
            update_manifest(directory, state="failed", reason=f"{type(err).__name__}: {err}"[:500])
            log.error("step failed: %s", err)  # train.log, next to the progress it ends
        raise
    finally:
        ignore_timeout_signals()
        distributed.shutdown()
    if is_main:
        update_manifest(directory, state="finished", final_sha256=sha256_of(directory.final), reason=None)
    return results

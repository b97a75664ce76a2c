"""Preemption that cancels: on clusters with `PreemptMode=CANCEL` (scavenger QOS) and no grace time, Slurm ends a
preempted job for good (state PREEMPTED, never requeued), and the next step, waiting `afterok` on it, would be
cancelled with it. The step has saved `last.pt` by then (the preemption's TERM came first); its rank 0 then
submits the step again, as it was submitted, and points the next step's dependency at the new job, so the chain
goes on by itself and resumes exactly. With a grace time Slurm still runs the job when the kit has saved, and
the kit requeues it as for a timeout (`wilss.launch.job`).

Both launchers: a job of the sbatch scripts (they export `WILSS_SCRIPT`) is submitted again with the options
and arguments accounting recorded for it; a job of `wilss submit` is submitted again by the submitter.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig

from wilss.spec import resolve
from wilss.core import log
from wilss.errors import WilssError
from wilss.launch import slurm
from wilss.launch.manifest import read_manifest, update_manifest
from wilss.launch.sbatch_chain import SCRIPT_VARIABLE, submit_script, submitted_with
from wilss.launch.plan import StepPlan
from wilss.launch.submitter import StepWork, submit_chain, submit_report, submit_step

@contextmanager
def outside_this_job() -> Iterator[None]:
    """Submit as from a login shell: without this job's SLURM_* variables in the environment."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(slurm.without_job_variables(saved))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def sbatch_again(job_id: str, step: int) -> str:
    """The sbatch script's job again: the options and arguments it was submitted with, for the same step."""
    script, submit_dir = Path(os.environ[SCRIPT_VARIABLE]), Path(os.environ["SLURM_SUBMIT_DIR"])
    submitted = submitted_with(job_id, script, submit_dir)
    if submitted is None:
        raise WilssError(f"accounting has no submit line for job {job_id}: submit {script} again to resume the "
                         "chain from its checkpoint")
    return submit_script(*submitted, step)


def chain_overrides(overrides: list[str]) -> list[str]:
    return [override for override in overrides if not override.startswith("step=")]


def submitit_again(cfg: DictConfig, overrides: list[str], work: StepWork) -> str:
    with outside_this_job():
        job = submit_step(cfg, "slurm", chain_overrides(overrides), StepPlan(cfg.step, "submit"), None, work)
    return str(job.job_id)


def keep_next_step(cfg: DictConfig, overrides: list[str], job_id: str, work: StepWork) -> None:
    """The next step waits for the new job: its pending job gets the new dependency; once Slurm has cancelled
    it, the new job of an sbatch chain submits it at its start, and `wilss submit`'s steps are planned again
    (with the chain's report after them; after the last step, the report alone)."""
    following, chain = cfg.step + 1, resolve(cfg)
    if following >= len(chain.steps):
        if SCRIPT_VARIABLE not in os.environ:  # the chain's report waited for the preempted job: queue it again
            with outside_this_job():
                submit_report(cfg, "slurm", chain_overrides(overrides), StepPlan(cfg.step, "submitted", job_id))
        return
    next_job = read_manifest(chain.step(following).files).get("job_id")
    if next_job and slurm.depend_on(next_job, f"afterok:{job_id}"):
        log.warning("step %d (job %s) now waits for job %s", following, next_job, job_id)
    elif SCRIPT_VARIABLE not in os.environ:
        with outside_this_job():
            submit_chain([*chain_overrides(overrides), "launch.resubmit_failed=true", "launch.preflight=false"], work)


def resubmit_preempted(cfg: DictConfig, overrides: list[str], job_id: str, reason: str, work: StepWork) -> str:
    """Rank 0, after the save: submit the step again (a submitit job runs `work`), keep the next step waiting for
    it; the new job's id."""
    new = sbatch_again(job_id, cfg.step) if SCRIPT_VARIABLE in os.environ else submitit_again(cfg, overrides, work)
    update_manifest(resolve(cfg).current.files, state="resubmitted", job_id=new,
                    reason=f"Slurm preempted job {job_id} and will not requeue it: submitted again as job {new}")
    log.warning("Slurm preempted job %s and will not requeue it (%s): submitted the step again as job %s; it will "
                "resume from the checkpoint", job_id, reason, new)
    keep_next_step(cfg, overrides, new, work)
    return new

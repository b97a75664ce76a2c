"""The few Slurm commands the launcher needs, each time-boxed (Slurm clients retry for minutes when the
controller is down) and failing with a message that names the command."""

from __future__ import annotations

import shutil
import subprocess

from wilss.errors import WilssError

# States in which a job may still run (squeue lists exactly these; sacct keeps the final ones).
ACTIVE_STATES = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING",
                 "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"}


def available() -> bool:
    return shutil.which("sbatch") is not None


def _run(args: list[str], check: bool = True) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise WilssError(f"'{' '.join(args)}' failed: {err}. Is Slurm reachable from this machine?") from None
    if check and done.returncode:
        raise WilssError(f"'{' '.join(args)}' failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip() if done.returncode == 0 else ""


def job_state(job_id: str) -> tuple[str, str]:
    """(state, detail) of a job: squeue while it is queued or running (detail = the pending reason), else
    sacct's final state ('CANCELLED by 0' becomes CANCELLED). UNKNOWN when neither knows the job."""
    queued = _run(["squeue", "-h", "-j", job_id, "-o", "%T|%r"], check=False)
    if queued:
        state, _, reason = queued.splitlines()[0].partition("|")
        return state, "" if reason in ("None", "") else reason
    accounted = _run(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "State,ExitCode"], check=False)
    if accounted:
        state, _, exit_code = accounted.splitlines()[0].partition("|")
        return state.split()[0], "" if exit_code in ("0:0", "") else f"exit {exit_code}"
    return "UNKNOWN", ""


def requeue(job_id: str) -> None:
    _run(["scontrol", "requeue", job_id])

"""The few Slurm commands the launcher needs, each time-boxed (Slurm clients retry for minutes when the
controller is down) and failing with a message that names the command."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, replace

from wilss.errors import WilssError

# States in which a job may still run (squeue lists exactly these; sacct keeps the final ones).
ACTIVE_STATES = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING",
                 "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"}


def available() -> bool:
    return shutil.which("sbatch") is not None


def _run(args: list[str], check: bool = True, cwd: str | None = None, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=cwd, env=env)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise WilssError(f"'{' '.join(args)}' failed: {err}. Is Slurm reachable from this machine?") from None
    if check and done.returncode:
        raise WilssError(f"'{' '.join(args)}' failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip() if done.returncode == 0 else ""


def _controller_state(job_id: str) -> tuple[str, str] | None:
    """(state, reason) from slurmctld while it knows the job (queued, running, or ended less than MinJobAge
    ago), None once it has forgotten it. An unreachable controller is an error, never a forgotten job."""
    args = ["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T|%r"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise WilssError(f"'{' '.join(args)}' failed: {err}. Is Slurm reachable from this machine?") from None
    if done.returncode and "Invalid job id" not in done.stderr:
        raise WilssError(f"'{' '.join(args)}' failed (exit {done.returncode}): {done.stderr.strip()}")
    if done.returncode or not done.stdout.strip():
        return None
    state, _, reason = done.stdout.strip().splitlines()[0].partition("|")
    return state, "" if reason in ("None", "") else reason


def _accounted_state(job_id: str) -> tuple[str, str] | None:
    """(state, detail) of the job's last record in accounting ('CANCELLED by 0' becomes CANCELLED)."""
    accounted = _run(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "State,ExitCode,Reason"], check=False)
    if not accounted:
        return None
    state, exit_code, reason = (accounted.splitlines()[0].split("|") + ["", ""])[:3]
    details = [f"exit {exit_code}" if exit_code not in ("0:0", "") else "", "" if reason in ("None", "") else reason]
    return state.split()[0], ", ".join(d for d in details if d)


def job_state(job_id: str) -> tuple[str, str]:
    """(state, detail) of a job: the controller's while it knows the job (detail = the pending or ending
    reason, e.g. DependencyNeverSatisfied), else accounting's final record. A job the controller has forgotten
    is over whatever accounting last recorded (a requeue that raced a cancel leaves REQUEUED there): ENDED,
    with that record as the detail. UNKNOWN when neither knows the job."""
    known = _controller_state(job_id)
    if known:
        return known
    accounted = _accounted_state(job_id)
    if accounted is None:
        return "UNKNOWN", ""
    state, detail = accounted
    if state in ACTIVE_STATES:
        return "ENDED", f"accounting's last record: {state}"
    return state, detail


def ending(job_id: str) -> str | None:
    """None while Slurm runs the job; else how Slurm is ending it, in lower case ('cancelled', 'requeued',
    'node_fail', ...). While its processes exit the controller says COMPLETING whatever the cause; accounting
    already has the cause."""
    state, _ = job_state(job_id)
    if state == "RUNNING":
        return None
    if state == "COMPLETING":
        accounted = _accounted_state(job_id)
        state = accounted[0] if accounted and accounted[0] not in ("RUNNING", "PENDING") else state
    return state.lower()


@dataclass(frozen=True)
class QueuedJob:
    job_id: str
    name: str
    state: str
    reason: str
    work_dir: str
    command: str  # the batch script and its arguments, as submitted


def my_jobs() -> list[QueuedJob]:
    """This user's queued and running jobs."""
    listed = _run(["squeue", "--me", "-h", "-o", "%i|%j|%T|%r|%Z|%o"], check=False)
    jobs = [QueuedJob(*line.split("|", 5)) for line in listed.splitlines()]
    return [replace(job, reason="" if job.reason == "None" else job.reason) for job in jobs]


def preemption_requeues(job_id: str) -> bool | None:
    """Whether Slurm requeues this job when it preempts it: the PreemptMode of the job's QOS, or of its partition
    (which shows the cluster's) where the QOS says 'cluster'. None when that cannot be read."""
    fields = _run(["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%q|%P"], check=False).partition("\n")[0]
    qos, _, partition = fields.partition("|")
    mode = _run(["sacctmgr", "-n", "-P", "show", "qos", qos, "format=PreemptMode"], check=False).lower() if qos else ""
    if mode in ("", "cluster") and partition:
        found = re.search(r"PreemptMode=(\S+)", _run(["scontrol", "show", "partition", partition, "-o"], check=False))
        mode = found.group(1).lower() if found else ""
    return "requeue" in mode if mode else None


def submit_line(job_id: str) -> str:
    """The command line the job was submitted with, as accounting recorded it ('' before it has)."""
    return _run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "SubmitLine"], check=False).partition("\n")[0]


def sbatch(args: list[str], cwd: str, env: dict[str, str]) -> str:
    """Submit (`sbatch --parsable ARGS` in `cwd` with `env`); the new job's id."""
    return _run(["sbatch", "--parsable", *args], cwd=cwd, env=env).split(";")[0]


def depend_on(job_id: str, dependency: str) -> bool:
    """Give a pending job another dependency (e.g. afterok:<job>); False when Slurm refuses (the job is no
    longer pending)."""
    args = ["scontrol", "update", f"JobId={job_id}", f"Dependency={dependency}"]
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def without_job_variables(environ: dict[str, str]) -> dict[str, str]:
    """The environment for a job submitted from inside another: none of that job's SLURM_* variables (sbatch's
    --export=ALL would hand them on: SLURM_RESTART_COUNT would count its restarts against the new job's cap)."""
    return {key: value for key, value in environ.items() if not key.startswith("SLURM_") or key == "SLURM_CONF"}


def requeue(job_id: str) -> None:
    _run(["scontrol", "requeue", job_id])

"""torch.distributed's env:// variables from the scheduler's, for processes that no torchrun started.

Under `srun` (the sbatch scripts, submitit on Slurm) every task is one rank: rank SLURM_PROCID of
SLURM_NTASKS, local rank SLURM_LOCALID, the master is the first host of the job's node list. Under submitit's
local executor the same comes from its SUBMITIT_LOCAL_* variables. The port is derived from the job id, so a
requeued job (same id) meets at the same address, and two jobs sharing a node do not collide.
"""

from __future__ import annotations

import os

from submitit.local.local import LocalJobEnvironment
from submitit.slurm.slurm import SlurmJobEnvironment

PORT_RANGE = (20000, 60000)


def port_for_job(job_id: str) -> int:
    low, high = PORT_RANGE
    digits = "".join(ch for ch in job_id if ch.isdigit()) or "0"
    return low + int(digits) % (high - low)


def _scheduler_environment():
    if "TORCHELASTIC_RUN_ID" in os.environ:
        return None  # torchrun (also `srun torchrun`) already described the process group
    # The local executor first: started from a shell inside a Slurm allocation, its processes inherit SLURM_*.
    if "SUBMITIT_LOCAL_JOB_ID" in os.environ:
        return LocalJobEnvironment()
    # RANK, MASTER_ADDR ... found here otherwise may be stale: sbatch exports the submitting shell's variables.
    if "SLURM_STEP_ID" in os.environ and "SLURM_PROCID" in os.environ:
        return SlurmJobEnvironment()  # a task of an srun step; the batch shell itself has no step id
    return None


def slurm_job_id() -> str | None:
    """The Slurm job this process runs as (to requeue it), None when it is not a Slurm job: a local-executor
    run started inside an allocation must never requeue that allocation. A task of a job array is named
    <array id>_<task>, as the submitter recorded it and as squeue, sacct and scontrol accept it."""
    if "SUBMITIT_LOCAL_JOB_ID" in os.environ:
        return None
    if "SLURM_ARRAY_TASK_ID" in os.environ:
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


def export_torch_env() -> None:
    """Set RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT from the scheduler (not
    under torchrun, whose own values stand)."""
    job = _scheduler_environment()
    if job is None:
        return
    master = job.hostnames[0] if isinstance(job, SlurmJobEnvironment) else "127.0.0.1"
    os.environ.update({
        "RANK": str(job.global_rank),
        "WORLD_SIZE": str(job.num_tasks),
        "LOCAL_RANK": str(job.local_rank),
        "LOCAL_WORLD_SIZE": str(job.num_tasks // job.num_nodes),
        "MASTER_ADDR": master,
        "MASTER_PORT": str(port_for_job(str(job.job_id))),
    })


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0

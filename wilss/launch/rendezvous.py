"""torch.distributed's env:// variables from the scheduler's, for processes that no torchrun started.

Under `srun` (the sbatch scripts, submitit on Slurm) every task is one rank: rank SLURM_PROCID of
SLURM_NTASKS, local rank SLURM_LOCALID, the master is the first host of the job's node list. Under submitit's
local executor the same comes from its SUBMITIT_LOCAL_* variables. The port is derived from the job id, so a
requeued job (same id) meets at the same address, and two jobs sharing a node do not collide.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from wilss.errors import WilssError

PORT_RANGE = (20000, 60000)
# Variable names of each scheduler: Slurm's are documented (sbatch/srun "OUTPUT ENVIRONMENT VARIABLES");
# submitit's local executor sets its own for each task it starts (tests/test_rendezvous.py runs a real one, so
# a submitit release that renames them fails there). Keys: job id, ntasks, nodes, global rank, local rank.
SLURM_VARS = ("SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_JOB_NUM_NODES", "SLURM_PROCID", "SLURM_LOCALID")
SUBMITIT_LOCAL_VARS = ("SUBMITIT_LOCAL_JOB_ID", "SUBMITIT_LOCAL_NTASKS", "SUBMITIT_LOCAL_JOB_NUM_NODES",
                       "SUBMITIT_LOCAL_GLOBALID", "SUBMITIT_LOCAL_LOCALID")


@dataclass(frozen=True)
class SchedulerTask:
    job_id: str
    num_tasks: int
    num_nodes: int
    global_rank: int
    local_rank: int


def port_for_job(job_id: str) -> int:
    low, high = PORT_RANGE
    digits = "".join(ch for ch in job_id if ch.isdigit()) or "0"
    return low + int(digits) % (high - low)


def _task_from(names: tuple[str, ...]) -> SchedulerTask:
    job_id, ntasks, nodes, rank, local_rank = (os.environ[name] for name in names)
    return SchedulerTask(job_id, int(ntasks), int(nodes), int(rank), int(local_rank))


def _scheduler_task() -> tuple[str, SchedulerTask] | None:
    if "TORCHELASTIC_RUN_ID" in os.environ:
        return None  # torchrun (also `srun torchrun`) already described the process group
    # The local executor first: started from a shell inside a Slurm allocation, its processes inherit SLURM_*.
    if "SUBMITIT_LOCAL_JOB_ID" in os.environ:
        return "local", _task_from(SUBMITIT_LOCAL_VARS)
    # RANK, MASTER_ADDR ... found here otherwise may be stale: sbatch exports the submitting shell's variables.
    if "SLURM_STEP_ID" in os.environ and "SLURM_PROCID" in os.environ:
        return "slurm", _task_from(SLURM_VARS)  # a task of an srun step; the batch shell itself has no step id
    return None


def first_host(node_list: str) -> str:
    """The first host of a Slurm node list ("gpu[07-08],n1" -> "gpu07"), expanded by Slurm's own scontrol."""
    if not any(ch in node_list for ch in "[,"):
        return node_list
    try:
        hosts = subprocess.run(["scontrol", "show", "hostnames", node_list], capture_output=True, text=True,
                               check=True, timeout=60).stdout.split()
    except (OSError, subprocess.SubprocessError) as err:
        raise WilssError(f"cannot expand SLURM_JOB_NODELIST={node_list!r} with 'scontrol show hostnames' ({err}): "
                         f"put Slurm's commands on PATH inside the job (module load slurm).") from err
    return hosts[0]


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
    found = _scheduler_task()
    if found is None:
        return
    kind, task = found
    master = first_host(os.environ.get("SLURM_JOB_NODELIST", "")) if kind == "slurm" else "127.0.0.1"
    os.environ.update({
        "RANK": str(task.global_rank),
        "WORLD_SIZE": str(task.num_tasks),
        "LOCAL_RANK": str(task.local_rank),
        "LOCAL_WORLD_SIZE": str(task.num_tasks // task.num_nodes),
        "MASTER_ADDR": master or os.uname().nodename,
        "MASTER_PORT": str(port_for_job(task.job_id)),
    })


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0

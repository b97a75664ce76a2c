"""Process-group variables from the scheduler's: the rank/local-rank/master mapping under srun and submitit's
local executor, and that torchrun's own variables are never overwritten."""

from __future__ import annotations

import os

import pytest

from wilss.launch.rendezvous import export_torch_env, port_for_job, slurm_job_id

TORCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def clean_env(monkeypatch):
    """A private copy of the environment: what export_torch_env writes never reaches later tests."""
    private = {key: value for key, value in os.environ.items()
               if not key.startswith(("SLURM_", "SUBMITIT_", "TORCHELASTIC_")) and key not in TORCH_VARS}
    monkeypatch.setattr(os, "environ", private)
    return monkeypatch


def srun_task(env, procid: int, localid: int, nodeid: int, ntasks: int = 4, nodes: str = "gpu[07-08]",
              num_nodes: int = 2) -> None:
    for key, value in {"SLURM_JOB_ID": "123456", "SLURM_STEP_ID": "0", "SLURM_PROCID": procid,
                       "SLURM_LOCALID": localid, "SLURM_NODEID": nodeid, "SLURM_NTASKS": ntasks,
                       "SLURM_JOB_NUM_NODES": num_nodes, "SLURM_JOB_NODELIST": nodes}.items():
        env.setenv(key, str(value))


def exported() -> dict:
    return {key: os.environ.get(key) for key in TORCH_VARS}


def test_srun_task_on_the_second_node_gets_its_global_and_local_rank_and_the_first_host(clean_env):
    srun_task(clean_env, procid=3, localid=1, nodeid=1)
    export_torch_env()
    assert exported() == {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                          "MASTER_ADDR": "gpu07", "MASTER_PORT": str(port_for_job("123456"))}


def test_port_depends_on_the_job_only_so_a_requeued_job_meets_at_the_same_address(clean_env):
    assert port_for_job("123456") == port_for_job("123456") != port_for_job("123457")
    assert all(20000 <= port_for_job(str(job)) < 60000 for job in (0, 1, 99999999))


def test_torchrun_variables_are_left_alone(clean_env):
    srun_task(clean_env, procid=0, localid=0, nodeid=0)  # srun torchrun: torchrun's ranks stand
    for key, value in {"TORCHELASTIC_RUN_ID": "1", "RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1",
                       "MASTER_ADDR": "x"}.items():
        clean_env.setenv(key, value)
    export_torch_env()
    assert os.environ["RANK"] == "5" and os.environ["LOCAL_RANK"] == "1" and os.environ["MASTER_ADDR"] == "x"


def test_stale_variables_exported_from_the_submitting_shell_are_replaced(clean_env):
    for key, value in {"RANK": "3", "WORLD_SIZE": "4", "MASTER_ADDR": "elsewhere", "MASTER_PORT": "23456"}.items():
        clean_env.setenv(key, value)  # sbatch exports the submitter's environment into the job
    srun_task(clean_env, procid=0, localid=0, nodeid=0, ntasks=1, nodes="n1", num_nodes=1)
    export_torch_env()
    assert exported() == {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
                          "MASTER_ADDR": "n1", "MASTER_PORT": str(port_for_job("123456"))}


def test_the_batch_shell_of_a_job_is_a_single_process(clean_env):
    srun_task(clean_env, procid=0, localid=0, nodeid=0)
    clean_env.delenv("SLURM_STEP_ID")  # sbatch's batch step has none: only srun starts the ranks
    export_torch_env()
    assert exported()["RANK"] is None


def submitit_local_task(env) -> None:
    for key, value in {"SUBMITIT_EXECUTOR": "local", "SUBMITIT_LOCAL_JOB_ID": "4242", "SUBMITIT_LOCAL_NTASKS": "2",
                       "SUBMITIT_LOCAL_JOB_NUM_NODES": "1", "SUBMITIT_LOCAL_GLOBALID": "1",
                       "SUBMITIT_LOCAL_LOCALID": "1", "SUBMITIT_LOCAL_NODEID": "0"}.items():
        env.setenv(key, value)


def test_submitit_local_executor_tasks(clean_env):
    submitit_local_task(clean_env)
    export_torch_env()
    assert exported()["RANK"] == "1" and exported()["LOCAL_RANK"] == "1" and exported()["MASTER_ADDR"] == "127.0.0.1"


def test_a_local_run_started_inside_a_slurm_allocation_is_not_that_slurm_job(clean_env):
    # `python -m wilss.submit cluster=local` typed in `srun --pty bash`: the tasks inherit the step's SLURM_*.
    srun_task(clean_env, procid=0, localid=0, nodeid=0)
    assert slurm_job_id() == "123456"
    submitit_local_task(clean_env)
    export_torch_env()
    assert exported()["WORLD_SIZE"] == "2" and exported()["MASTER_ADDR"] == "127.0.0.1"
    assert slurm_job_id() is None  # so a timeout never requeues the user's allocation


def test_submitit_local_executor_still_sets_the_variables_read_here(tmp_path):
    """The names of submitit's local-executor variables are its implementation, not an API: a real local job
    reports what rendezvous reads, so a submitit release that renames them fails here, not in a user's run."""
    import submitit

    from wilss.launch.rendezvous import SchedulerTask, _scheduler_task

    executor = submitit.AutoExecutor(folder=tmp_path, cluster="local")
    executor.update_parameters(timeout_min=5, tasks_per_node=1, nodes=1)
    job = executor.submit(_scheduler_task)
    assert job.result() == ("local", SchedulerTask(str(job.job_id), 1, 1, 0, 0))

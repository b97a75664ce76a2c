"""Plan and submit a task's chain of steps as submitit jobs.

The plan (`wilss.launch.plan`, the sweeps' planner: a chain is a sweep of one point) reads each step's state
from disk and from Slurm, so submitting the same command again is safe:
finished steps are skipped, queued or running ones are reused as dependencies, failed ones block the chain
unless `launch.resubmit_failed=true`. Step t waits for step t−1 with `afterok` and is cancelled by Slurm when
step t−1 fails (`kill_on_invalid_dep`).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import submitit
from omegaconf import DictConfig, OmegaConf

from wilss import preflight
from wilss.config import load_config
from wilss.errors import WilssError
from wilss.launch.chain_report import ChainReport
from wilss.launch.manifest import update_manifest
from wilss.launch.plan import StepPlan, Unit, plan_units, resolve_cluster
from wilss.launch.signals import hold_stop_signals_prefix
from wilss.spec import resolve


# What a step's job runs, built from its overrides: `wilss.launch.step.StepJob`, passed in by the commands and the
# step itself (which submits its step again after a preemption), since the step's module sits above this one.
StepWork = Callable[[list[str]], Callable[[], object]]


def plan_chain(cfg: DictConfig, cluster: str, overrides: list[str]) -> list[StepPlan]:
    """One plan per step, as a sweep plans its units (a chain is a sweep of one point, its steps in a line): after
    a failed step nothing more is submitted."""
    steps, units = resolve(cfg).steps, []
    for step in steps:
        units.append(Unit(f"step{step.index}", step.index, overrides, len(steps), step.files,
                          units[-1] if units else None))
    plan_units(units, cluster, cfg.launch.resubmit_failed)
    return [unit.plan for unit in units]


def build_executor(cfg: DictConfig, cluster: str, dependency: str | None,
                   folder: Path | None = None) -> submitit.AutoExecutor:
    """An executor for one step's jobs; `dependency` is sbatch's (e.g. afterok:<job id>); logs go to `folder`
    (default: the run directory's jobs/)."""
    launch = cfg.launch
    # Each rank's Python starts with the stop signals held until the step's handlers are in (wilss.launch.step).
    python = shlex.join([*hold_stop_signals_prefix(), sys.executable])
    executor = submitit.AutoExecutor(folder=folder or resolve(cfg).layout.jobs / "%j", cluster=cluster,
                                     slurm_python=python)
    extra = {"requeue": True, **OmegaConf.to_container(launch.additional, resolve=True)}
    if dependency:
        extra |= {"dependency": dependency, "kill_on_invalid_dep": "yes"}
    parameters = {
        "name": f"wilss-{cfg.dataset.name}-{cfg.task.name}-{cfg.name}",
        "nodes": launch.nodes, "tasks_per_node": launch.tasks_per_node, "cpus_per_task": launch.cpus_per_task,
        "gpus_per_node": launch.gpus_per_node or None, "mem_gb": launch.mem_gb, "timeout_min": launch.timeout_min,
        "slurm_partition": launch.partition, "slurm_account": launch.account, "slurm_qos": launch.qos,
        "slurm_constraint": launch.constraint, "slurm_signal_delay_s": launch.signal_delay_s,
        "slurm_setup": list(launch.setup) or None, "slurm_additional_parameters": extra,
    }
    executor.update_parameters(**{key: value for key, value in parameters.items() if value is not None})
    return executor


def check_resources(cfg: DictConfig, cluster: str) -> None:
    """Fail before queueing what would fail at start."""
    launch = cfg.launch
    if cluster == "local" and launch.nodes != 1:
        raise WilssError(f"launch.nodes={launch.nodes} with cluster=local: this machine is one node; use "
                         "launch.tasks_per_node for several processes.")
    world = launch.nodes * launch.tasks_per_node
    if min(launch.nodes, launch.tasks_per_node, launch.cpus_per_task, launch.timeout_min) < 1:
        raise WilssError("launch.nodes, launch.tasks_per_node, launch.cpus_per_task and launch.timeout_min must "
                         "be positive.")
    if cfg.train.batch_size % world:
        raise WilssError(f"train.batch_size={cfg.train.batch_size} is not divisible by the {world} processes of "
                         f"launch.nodes={launch.nodes} x launch.tasks_per_node={launch.tasks_per_node}.")


def submit_step(cfg: DictConfig, cluster: str, overrides: list[str], plan: StepPlan, after: str | None,
                work: StepWork) -> submitit.Job:
    dependency = f"afterok:{after}" if after else None
    job = build_executor(cfg, cluster, dependency).submit(work([*overrides, f"step={plan.step}"]))
    update_manifest(resolve(cfg).step(plan.step).files, step=plan.step, state="submitted", job_id=str(job.job_id),
                    cluster=cluster, job_folder=str(job.paths.folder))
    plan.action, plan.job_id = "submitted", str(job.job_id)
    return job


# The report job: one process, no GPU, minutes.
REPORT_RESOURCES = {"nodes": 1, "tasks_per_node": 1, "gpus_per_node": 0, "cpus_per_task": 1, "mem_gb": 4,
                    "timeout_min": 15}


def submit_report(cfg: DictConfig, cluster: str, overrides: list[str], last: StepPlan) -> submitit.Job:
    """Queue the chain's table (`ChainReport`) after its last step's job (on this machine: run it now)."""
    executor = build_executor(cfg, cluster, f"afterok:{last.job_id}" if cluster == "slurm" else None)
    executor.update_parameters(name=f"wilss-report-{cfg.task.name}-{cfg.name}", **REPORT_RESOURCES)
    return executor.submit(ChainReport([*overrides, f"step={last.step}"]))


def submit_chain(overrides: list[str], work: StepWork) -> tuple[DictConfig, str, list[StepPlan], submitit.Job | None]:
    """Submit what the chain still needs, then its report; return the config, the cluster, the plans and the
    report's job (None when nothing was submitted).

    On Slurm every step is queued at once, each depending on the one before. On this machine (`local`) the
    steps run one after the other: each job is waited for before the next is started."""
    cfg = load_config(overrides)
    cluster = resolve_cluster(cfg)
    check_resources(cfg, cluster)
    if cfg.launch.preflight:
        preflight.require(cfg)
    plans = plan_chain(cfg, cluster, overrides)
    previous = None
    for plan in plans:
        if plan.action == "active":
            previous = plan.job_id
        elif plan.action == "submit":
            job = submit_step(cfg, cluster, overrides, plan, previous if cluster == "slurm" else None, work)
            previous = plan.job_id
            if cluster == "local":
                print(f"step {plan.step}: running on this machine (log: {resolve(cfg).step(plan.step).files.train_log})",
                      flush=True)
                job.results()  # every task; raises when the step failed: the next one must not start
    report = None
    if any(plan.action == "submitted" for plan in plans) and plans[-1].action in ("submitted", "active"):
        report = submit_report(cfg, cluster, overrides, plans[-1])
        if cluster == "local":
            report.results()
    return cfg, cluster, plans, report

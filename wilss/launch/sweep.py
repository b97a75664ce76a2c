"""Submit a sweep (`wilss.sweep`) as Slurm job arrays, or run it on this machine.

The sweep is cut into units: one per shared step 0, one per point and later step, planned by the one planner
(`wilss.launch.plan`, as a chain's steps: done, active, submit or failed), each behind a failed unit before it, so a
second submit skips finished units, keeps queued or running ones and resubmits failed ones on request.

On Slurm the units of one step that wait for the same array form one array whose task i starts when task i of
that array has succeeded (`--dependency=aftercorr`): a failing point stops only its own later steps. A shared
step 0 feeds several points, so its step-1 units form one array per "lane": lane j holds the j-th point of
each step-0 group, the groups ordered by how many points they feed, so that lane j's groups are the first
tasks of the step-0 array. Chains of different lengths go to different arrays, so that in every array either
all tasks have a next step or none has.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from submitit.core.utils import FailedJobError, UncompletedJobError

from wilss import preflight
from wilss.config import load_config
from wilss.launch.manifest import update_manifest
from wilss.launch.plan import Array, Unit, plan_units, resolve_cluster
from wilss.launch.step import StepJob
from wilss.launch.submitter import build_executor, check_resources, submit_step
from wilss.layout import RunLayout
from wilss.sweep import Sweep, expand, prepare


def build_units(sweep: Sweep) -> list[Unit]:
    """Every unit of the sweep, by step."""
    units = []
    for key, members in sweep.groups().items():
        first = members[0]
        root = Unit(f"shared/step0-{key}", 0, sweep.overrides_for(first, 0), first.length,
                    RunLayout(sweep.shared_dir(first)).step(0))
        units.append(root)
        for point in members:
            before = root
            for step in range(1, point.length):
                unit = Unit(f"{point.name}/step{step}", step, sweep.overrides_for(point, step), point.length,
                            RunLayout(sweep.point_dir(point)).step(step), before)
                before.after.append(unit)
                units.append(unit)
                before = unit
    return sorted(units, key=lambda unit: unit.step)


def dependency_key(unit: Unit) -> tuple | None:
    """What the unit waits for: nothing, a job queued earlier, or a lane of an array submitted now."""
    before = unit.before
    if before is None or before.plan.action == "done":
        return None
    if before.plan.action == "active":
        return ("afterok", before.plan.job_id)
    return ("aftercorr", id(before.array), before.pending_after().index(unit))


def dependency_option(units: list[Unit], key: tuple | None) -> str | None:
    if key is None:
        return None
    if key[0] == "afterok":
        return f"afterok:{key[1]}"
    array = units[0].before.array
    if array.size == 1:  # submitit submits one task as a plain job
        return f"afterok:{array.job_id}"
    return f"afterok:{array.job_id}_0" if len(units) == 1 else f"aftercorr:{array.job_id}"


def arrays_of_step(units: list[Unit]) -> list[tuple[list[Unit], tuple | None]]:
    """The units of one step to submit, as arrays in task order."""
    groups: dict[tuple, list[Unit]] = defaultdict(list)
    for unit in units:
        groups[(unit.length, dependency_key(unit))].append(unit)
    arrays = []
    for (_, key), members in groups.items():
        if key and key[0] == "aftercorr":
            members.sort(key=lambda unit: unit.before.index)  # task i after task i
            assert [unit.before.index for unit in members] == list(range(len(members)))
        else:
            members.sort(key=lambda unit: -len(unit.pending_after()))  # the largest lanes first
        arrays.append((members, key))
    return arrays


def submit_array(sweep: Sweep, units: list[Unit], dependency: str | None) -> list[str]:
    """Submit the units as one job array (task i = units[i]); return the job ids, <array>_<i>."""
    cfg = load_config(units[0].overrides)
    check_resources(cfg, "slurm")
    executor = build_executor(cfg, "slurm", dependency, folder=sweep.layout.jobs / "%j")
    executor.update_parameters(name=f"wilss-sweep-{sweep.directory.name}-step{units[0].step}",
                               slurm_array_parallelism=cfg.launch.array_parallelism)
    with executor.batch():
        jobs = [executor.submit(StepJob([*unit.overrides, f"step={unit.step}"])) for unit in units]
    for unit, job in zip(units, jobs):
        update_manifest(unit.files, step=unit.step, state="submitted", job_id=str(job.job_id),
                        cluster="slurm", job_folder=str(job.paths.folder))
    return [str(job.job_id) for job in jobs]


def submit_arrays(units: list[Unit], submit: Callable[[list[Unit], str | None], list[str]]) -> list[Array]:
    """Submit every unit planned `submit`, step by step, as arrays (`submit` queues one array)."""
    arrays = []
    for step in sorted({unit.step for unit in units}):
        pending = [unit for unit in units if unit.step == step and unit.plan.action == "submit"]
        for members, key in arrays_of_step(pending):
            dependency = dependency_option(members, key)
            job_ids = submit(members, dependency)
            array = Array(job_ids[0].split("_")[0], len(job_ids), step, dependency)
            for index, (unit, job_id) in enumerate(zip(members, job_ids)):
                unit.array, unit.index = array, index
                unit.plan.action, unit.plan.job_id = "submitted", job_id
            arrays.append(array)
    return arrays


def run_here(units: list[Unit]) -> None:
    """cluster=local: one unit after the other; a failed unit blocks only the units after it."""
    for unit in units:
        before = unit.before.plan.action if unit.before else None
        if unit.plan.action != "submit":
            continue
        if before in ("failed", "blocked"):
            unit.plan.action = "blocked"
            continue
        cfg = load_config(unit.overrides)
        check_resources(cfg, "local")
        print(f"{unit.label}: running on this machine (log: {unit.files.train_log})", flush=True)
        job = submit_step(cfg, "local", unit.overrides, unit.plan, None, StepJob)
        try:
            job.results()
        except (FailedJobError, UncompletedJobError) as err:
            print(f"{unit.label}: failed: {str(err).splitlines()[0]}", flush=True)
            unit.plan.action, unit.plan.state = "failed", "FAILED (see its train.log)"


def submit_sweep(overrides: list[str]) -> tuple[Sweep, str, list[Unit], list[Array]]:
    """Submit (or run here) what the sweep still needs; return it, the cluster, its units and new arrays."""
    sweep = expand(overrides)
    cfg = load_config(list(sweep.points[0].overrides))
    cluster = resolve_cluster(cfg)
    if cfg.launch.preflight:
        for members in sweep.groups().values():  # one per step 0: the data, weights and resources it needs
            preflight.require(load_config(sweep.overrides_for(members[0], 0)))
    prepare(sweep)
    units = build_units(sweep)
    plan_units(units, cluster, cfg.launch.resubmit_failed)
    if cluster == "local":
        run_here(units)
        return sweep, cluster, units, []
    return sweep, cluster, units, submit_arrays(units, lambda members, after: submit_array(sweep, members, after))

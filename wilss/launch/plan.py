"""The one planner of the launch layer: what each step of a chain or a sweep needs, from disk and from Slurm.

A step is planned from its files and its job (`plan_step`: done, active, submit or failed); `plan_units` plans
steps linked to the step they start from, and blocks those behind a failed one. A sweep's units are such steps
(`wilss.launch.sweep`), and a chain is a sweep of one point: its steps in a line (`wilss.launch.submitter`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import DictConfig

from wilss.errors import WilssError
from wilss.launch import slurm
from wilss.launch.manifest import read_manifest
from wilss.layout import StepLayout


@dataclass
class StepPlan:
    step: int
    action: str  # done | active | submit | failed | blocked
    job_id: str | None = None
    state: str = ""


def resolve_cluster(cfg: DictConfig) -> str:
    if cfg.cluster not in ("auto", "slurm", "local"):
        raise WilssError(f"cluster={cfg.cluster}: choose slurm, local or auto.")
    if cfg.cluster == "auto":
        return "slurm" if slurm.available() else "local"
    if cfg.cluster == "slurm" and not slurm.available():
        raise WilssError("cluster=slurm but sbatch is not on PATH; run on a login node or use cluster=local.")
    return cfg.cluster


def plan_step(files: StepLayout, step: int, cluster: str, resubmit_failed: bool) -> StepPlan:
    if files.finished():
        return StepPlan(step, "done")
    job_id = read_manifest(files).get("job_id")
    if cluster == "local" or not job_id:
        return StepPlan(step, "submit")  # a local step that did not finish resumes when it runs again
    state, _ = slurm.job_state(job_id)
    if state in slurm.ACTIVE_STATES:
        return StepPlan(step, "active", job_id, state)
    return StepPlan(step, "submit" if resubmit_failed else "failed", job_id, state)


@dataclass(eq=False)
class Array:
    job_id: str  # the array's job id (a single job's id when it has one task)
    size: int
    step: int
    dependency: str | None


@dataclass(eq=False)
class Unit:
    label: str        # shared/step0-<key> or <point>/step<t>
    step: int
    overrides: list[str]  # without step=
    length: int       # steps of the chain it belongs to
    files: StepLayout  # its step directory
    before: Unit | None = None
    after: list[Unit] = field(default_factory=list)
    plan: StepPlan | None = None
    array: Array | None = None
    index: int = 0    # task index in its array

    def pending_after(self) -> list[Unit]:
        return [unit for unit in self.after if unit.plan.action == "submit"]


def plan_units(units: list[Unit], cluster: str, resubmit_failed: bool) -> None:
    """Plan every unit (in step order, so the unit before is planned first)."""
    for unit in units:
        unit.plan = plan_step(unit.files, unit.step, cluster, resubmit_failed)
        before = unit.before.plan if unit.before else None
        if before is None or unit.plan.action == "done":
            continue
        if before.action in ("failed", "blocked"):
            unit.plan.action = "blocked"
        elif before.action == "submit" and unit.plan.action == "active":
            unit.plan.action = "submit"  # its job waits for one that ended unsuccessfully: Slurm drops it

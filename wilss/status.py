"""Where a run stands: `python -m wilss.status RUN_DIR`, one line per step (for a sweep directory: one line per
point and step, and how many points are done, running, pending and failed).

Reads what the jobs leave in the run directory (manifest, checkpoint sidecars, results) and asks Slurm for
the state of each step's job: the job state (with the pending reason), restarts, epoch and iteration, the
latest metrics, the checkpoint.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from wilss.cli import as_invoked
from wilss.errors import WilssError, exit_on_user_error
from wilss.launch import slurm
from wilss.launch.manifest import read_manifest
from wilss.launch.sbatch_chain import queued_run_dir
from wilss.layout import RunLayout, StepLayout, SweepLayout, sidecar
from wilss.report import report_if_sweep_finished
from wilss.sweep import read_sweep_file, recorded_points


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}


DEPENDENCY_GONE = "cancelled because the step before it did not finish (its dependency can never be met)"


def job_of(manifest: dict) -> tuple[str, str] | None:
    """(state, detail) of the step's Slurm job; None without one (or for a job of this machine)."""
    job_id = manifest.get("job_id")
    if not job_id or manifest.get("cluster") == "local" or not slurm.available():
        return None
    return slurm.job_state(job_id)


def job_column(manifest: dict, job: tuple[str, str] | None) -> str:
    job_id = manifest.get("job_id")
    if not job_id:
        return "no job"
    if job is None:
        return f"job {job_id}"
    state, detail = job
    return f"job {job_id} {state}" + (f" ({detail})" if detail else "")


RESTARTING = ("requeued", "resubmitted", "interrupted", "preempted")  # what a step records when it stops to run again


def state_column(manifest: dict, job: tuple[str, str] | None) -> str:
    """The manifest's state, unless Slurm has moved on since the step wrote it: the job ended without the step
    recording it (killed, cancelled before it started, its node lost), or it runs or waits again after a
    restart the manifest does not show yet (the step records `running` only seconds into its start)."""
    recorded = manifest.get("state", "–")
    if job is not None and job[0] == "RUNNING" and recorded in RESTARTING:
        return f"starting again (was {recorded})"
    if job is not None and job[0] in ("PENDING", "REQUEUED") and recorded == "running":
        return "waiting to run again (Slurm requeued the job while the step ran)"
    if job is None or job[0] in slurm.ACTIVE_STATES or recorded not in ("submitted", "running", "requeued"):
        return recorded
    state, detail = job
    why = DEPENDENCY_GONE if "Dependency" in detail else state.lower()
    return f"never ran: {why}" if recorded == "submitted" else f"ended while {recorded}: {why}"


def progress_column(step: StepLayout) -> str:
    """Where the resume checkpoint stands, against the epoch count the training itself recorded in it."""
    progress = _read_json(sidecar(step.last)).get("progress")
    if not progress:
        return "not started"
    return f"epoch {progress['epoch']}/{progress.get('epochs', '?')} iter {progress['iteration']}"


def metrics_column(step: StepLayout) -> str:
    results = _read_json(step.results).get("sets", {}).get("val")
    metrics = results or _read_json(sidecar(step.last)).get("metrics") or {}
    if not metrics:
        return "no metrics yet"
    label = "final" if results else "latest val"
    return f"{label} mIoU old {_pct(metrics.get('miou_old'))} new {_pct(metrics.get('miou_new'))} " \
           f"all {_pct(metrics.get('miou_all'))}"


def checkpoint_column(step: StepLayout, manifest: dict) -> str:
    if step.final.is_file():
        digest = manifest.get("final_sha256")
        return "final.pt" + (f" sha256 {digest[:12]}" if digest else "")
    return "last.pt" if step.last.is_file() else "no checkpoint"


def step_line(step: StepLayout) -> str:
    manifest = read_manifest(step)
    job = job_of(manifest)
    columns = [step.dir.name, job_column(manifest, job), state_column(manifest, job),
               f"restarts {manifest.get('restarts', 0)}", progress_column(step), metrics_column(step),
               checkpoint_column(step, manifest)]
    refused = [f"job {job} ended at its start: a second submission of the step, which job {owner} has"
               for job, owner in manifest.get("refused", {}).items()]
    return " | ".join(columns + refused)


def nothing_started(run: Path) -> str:
    """What to say about a run directory without steps: an sbatch chain writes nothing before its first job
    starts, so it may simply be queued. Only the jobs that will write this run directory are listed."""
    queued = [f"job {job.job_id} {job.name} {job.state}" + (f" ({job.reason})" if job.reason else "")
              for job in (slurm.my_jobs() if slurm.available() else []) if queued_run_dir(job) == run.resolve()]
    if queued:
        return (f"{run}: no step has started yet. Its queued job (an sbatch chain writes its run directory when "
                "its first job starts):\n  " + "\n  ".join(queued))
    raise WilssError(f"'{run}' holds no step directories (step0, step1, ...) and none of your queued jobs will "
                     "write it; pass the run directory that wilss submit printed (or the run_dir of your sbatch "
                     "job: by default OUTPUT_ROOT/<dataset>-<task>/<name>, OUTPUT_ROOT = the submit folder's "
                     "outputs/).")


def step_state(step: StepLayout) -> str:
    """done | running | pending | failed, for a sweep's summary."""
    if step.finished():
        return "done"
    manifest = read_manifest(step)
    if not manifest.get("job_id"):
        return "pending"
    if manifest.get("cluster") == "local" or not slurm.available():
        return {"running": "running", "failed": "failed"}.get(manifest.get("state"), "pending")
    state, _ = slurm.job_state(manifest["job_id"])
    if state in slurm.ACTIVE_STATES:
        return "running" if state in ("RUNNING", "COMPLETING") else "pending"
    return "failed"


def point_state(states: list[str]) -> str:
    for state in ("failed", "running", "pending"):
        if state in states:
            return state
    return "done"


def sweep_status(sweep: Path) -> list[str]:
    """One line per point and step, then how many points are done, running, pending and failed."""
    lines, points = [], Counter()
    for name, point in recorded_points(sweep).items():
        steps = [SweepLayout(sweep).point(name).step(step) for step in range(point["length"])]
        lines += [f"{name} | {step_line(step)}" for step in steps]
        points[point_state([step_state(step) for step in steps])] += 1
    counts = ", ".join(f"{points[state]} {state}" for state in ("done", "running", "pending", "failed"))
    return [*lines, f"\n{sum(points.values())} points: {counts}"]


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(as_invoked("usage: python -m wilss.status RUN_DIR|SWEEP_DIR\n\nOne line per step: job state, manifest state, "
              "restarts, progress, metrics, checkpoint. For a sweep: one line per point and step, and a summary."))
        return
    if read_sweep_file(Path(args[0])):
        print("\n".join(sweep_status(Path(args[0]))))
        report_if_sweep_finished(Path(args[0]))  # written here and by the planner: no job of the sweep writes it
        report = SweepLayout(Path(args[0])).report_markdown
        if report.is_file():
            print(f"report: {report}")
        return
    run = RunLayout(Path(args[0]))
    steps = [step for _, step in run.existing_steps()]
    if not steps:
        print(nothing_started(run.root))
    for step in steps:
        print(step_line(step))
    if run.results_table.is_file():
        print("\n" + run.results_table.read_text())


if __name__ == "__main__":
    cli()

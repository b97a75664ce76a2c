"""The planner of the sbatch scripts (`slurm/*.sbatch`), which submit step t+1 from inside step t's job: their
shared body, `slurm/chain_step.sh`, makes one call before the step's `srun`,

    python -m wilss.launch.sbatch_chain start ROOT STEP TASK.. -- ARGS..    # with WILSS_SCRIPT set

which prints the job's overrides (one a line, for srun), after it has

1. claimed the step for this job, or refused it when another queued or running job has it (the same script
   submitted twice), as `wilss submit` does: exit status 3, which the script turns into a clean end of the job;
2. submitted step t+1 (`afterok` on this job) with the sbatch options this job was submitted with (accounting's
   SubmitLine, minus the options the submission sets itself) and recorded it in t+1's manifest, unless step t is
   the last, or t+1 has finished or already has a queued or running job (e.g. step t was requeued after it had
   submitted t+1). So t+1 is submitted once.

A step that Slurm preempts for good submits its script again through the same function (`submit_script`,
`wilss.launch.preemption`).
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from wilss.config import load_config
from wilss.errors import WilssError, exit_on_user_error
from wilss.launch import slurm
from wilss.launch.manifest import read_manifest, update_manifest
from wilss.launch.plan import plan_step
from wilss.spec import resolve, run_dir

USAGE = __doc__.split("\n\n")[1]
SCRIPT_VARIABLE = "WILSS_SCRIPT"  # set by slurm/chain_step.sh: the sbatch script the chain runs
SUBMIT_LINE_WAIT_S = 30  # accounting records a job's submit line a few seconds after it starts

# Options of the submitting job that the next step must not inherit: it sets them itself (dependency,
# environment) or they concern only the sbatch call (printing, waiting, holding). With the flag form that
# takes its value as the next word.
OWN_OPTIONS = {"--dependency": True, "-d": True, "--export": True, "--kill-on-invalid-dep": True,
               "--parsable": False, "--wait": False, "-W": False, "--hold": False, "-H": False,
               "--test-only": False}


def job_overrides(task: list[str], output_root: str, step: str, args: list[str]) -> list[str]:
    """What a job of an sbatch script runs: the script's task (its TASK_OVERRIDES) minus each key the command
    line sets itself, and all of it when the command line names an experiment=, which brings its own dataset
    and task (Hydra applies command-line overrides last, so the script's would win over the experiment's);
    then the output root, the user's overrides and the step."""
    keys = {arg.split("=", 1)[0].lstrip("+~") for arg in args}
    kept = [] if "experiment" in keys else [item for item in task if item.split("=", 1)[0] not in keys]
    return [*kept, f"output_root={output_root}", *args, f"step={step}"]


def script_task(script: Path) -> list[str]:
    """A script's TASK_OVERRIDES=(...) line, as bash reads it."""
    found = re.search(r"^TASK_OVERRIDES=\(([^)]*)\)", script.read_text(), flags=re.M)
    return shlex.split(found.group(1)) if found else []


def queued_run_dir(job: slurm.QueuedJob) -> Path | None:
    """The run directory a queued job of an sbatch script will write, from its script and arguments as Slurm
    holds them, run in its WorkDir. None for a job that is not a wilss sbatch job, or whose overrides do not
    compose. A job submitted with OUTPUT_ROOT in its environment is found only by a run_dir= argument."""
    script, *args = job.command.split()  # as Slurm shows it: the words joined by spaces
    script_path = Path(job.work_dir) / script
    if not script_path.is_file() or "chain_step.sh" not in script_path.read_text(errors="replace"):
        return None
    overrides = job_overrides(script_task(script_path), f"{job.work_dir}/outputs", "0", args)
    try:
        return run_dir(load_config(overrides), base=Path(job.work_dir)).resolve()  # a relative one: from WorkDir
    except WilssError:
        return None


@contextmanager
def step_lock(directory: Path):
    """Two jobs of the same step that start at once decide one after the other."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".claim.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


EXIT_REFUSED = 3  # claim: another job has the step; the script ends this job cleanly (COMPLETED, not FAILED)


def claim(overrides: list[str]) -> int:
    """0 when this job takes its step; `EXIT_REFUSED` when another queued or running job has it. The refusal
    is recorded in the step's manifest (`refused`: job id -> owner), where `wilss status` shows it."""
    cfg = load_config(overrides)
    directory, job_id = resolve(cfg).current.files, os.environ["SLURM_JOB_ID"]
    with step_lock(directory.dir):
        manifest = read_manifest(directory)
        owner = manifest.get("job_id")
        if owner and owner != job_id:
            state, _ = slurm.job_state(owner)
            if state in slurm.ACTIVE_STATES:
                update_manifest(directory, refused={**manifest.get("refused", {}), job_id: owner})
                print(f"wilss: step {cfg.step} of {run_dir(cfg)} already belongs to job {owner} ({state}); this "
                      f"job ({job_id}) does not train it a second time and ends here. Follow that job with "
                      f"wilss status {run_dir(cfg)}, or scancel it first to start over.", file=sys.stderr)
                return EXIT_REFUSED
        update_manifest(directory, step=cfg.step, state="running", job_id=job_id, cluster="slurm")
    return 0


def next_step(overrides: list[str]) -> int | None:
    cfg = load_config(overrides)
    following, steps = cfg.step + 1, resolve(cfg).steps
    if following >= len(steps):
        return None
    plan = plan_step(steps[following].files, following, "slurm", resubmit_failed=True)
    return following if plan.action == "submit" else None


def split_submit_line(submit_line: str, script: Path, submit_dir: Path) -> tuple[list[str], list[str]]:
    """(options, arguments) of `sbatch [options] SCRIPT [args]` (as accounting records it: the words joined by
    spaces, so an option value with a space in it cannot be told apart), the options minus `OWN_OPTIONS`."""
    words = submit_line.split()
    target = script.resolve()
    position = next((i for i, word in enumerate(words) if i and (submit_dir / word).resolve() == target), None)
    if position is None:
        raise WilssError(f"the script {script} is not on the submit line '{submit_line}'")
    carried, skip_value = [], False
    for word in words[1:position]:
        name = word.split("=", 1)[0]
        if skip_value:
            skip_value = False
        elif name in OWN_OPTIONS:
            skip_value = OWN_OPTIONS[name] and "=" not in word
        elif word.startswith("-d") and not word.startswith("--"):
            continue  # -dafterok:123
        else:
            carried.append(word)
    return carried, words[position + 1:]


def submitted_with(job_id: str, script: Path, submit_dir: Path) -> tuple[list[str], list[str]] | None:
    """(options, arguments) the job was submitted with (`split_submit_line`); None when accounting has no submit
    line for it."""
    for _ in range(SUBMIT_LINE_WAIT_S):
        line = slurm.submit_line(job_id)
        if line:
            return split_submit_line(line, script, submit_dir)
        time.sleep(1)
    return None


def submit_script(options: list[str], args: list[str], step: int, after: str | None = None) -> str:
    """This job's sbatch script for `step` (after job `after` succeeded, if given), submitted as from a login
    shell: none of this job's SLURM_* variables (SLURM_RESTART_COUNT would count this job's restarts against the
    new job's cap); the new job's id."""
    waits = [f"--dependency=afterok:{after}", "--kill-on-invalid-dep=yes"] if after else []
    return slurm.sbatch([*options, *waits, f"--export=ALL,WILSS_STEP={step}", os.environ[SCRIPT_VARIABLE], *args],
                        os.environ["SLURM_SUBMIT_DIR"], slurm.without_job_variables(dict(os.environ)))


def submit_next(overrides: list[str], args: list[str]) -> None:
    """Step t+1 after this job, with this job's sbatch options, recorded in t+1's manifest (`next_step`)."""
    following = next_step(overrides)
    if following is None:
        return
    job_id = os.environ["SLURM_JOB_ID"]
    script, submit_dir = Path(os.environ[SCRIPT_VARIABLE]), Path(os.environ["SLURM_SUBMIT_DIR"])
    submitted = submitted_with(job_id, script, submit_dir)
    if submitted is None:
        print(f"[wilss] warning: accounting has no submit line for job {job_id}: step {following} gets only the "
              "#SBATCH lines", file=sys.stderr)
    options = submitted[0] if submitted else []
    new = submit_script(options, args, following, after=job_id)
    update_manifest(resolve(load_config(overrides)).step(following).files, step=following, state="submitted", job_id=new,
                    cluster="slurm")
    print(f"[wilss] step {following} submitted as job {new} (afterok:{job_id}) with "
          f"{' '.join(options) or 'the #SBATCH lines'}", file=sys.stderr)


def start(task: list[str], output_root: str, step: str, args: list[str]) -> int:
    """Everything this job does before its step: claim it, submit the next one; print the step's overrides."""
    overrides = job_overrides(task, output_root, step, args)
    refused = claim(overrides)
    if refused:
        return refused
    handler = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a requeue must not split submitting and recording
    try:
        submit_next(overrides, args)
    finally:
        signal.signal(signal.SIGTERM, handler)
    print("\n".join(overrides))
    return 0


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] != ["start"] or "--" not in args or args.index("--") < 3 or SCRIPT_VARIABLE not in os.environ:
        raise WilssError(f"usage:\n{USAGE}")
    split = args.index("--")
    sys.exit(start(args[3:split], args[1], args[2], args[split + 1:]))


if __name__ == "__main__":
    cli()

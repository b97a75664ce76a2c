"""Bookkeeping for the sbatch scripts (`slurm/*.sbatch`), which submit step t+1 from inside step t's job (their
shared body, `slurm/chain_step.sh`):

    python -m wilss.launch.sbatch_chain overrides ROOT STEP TASK.. -- ARGS..  # the job's overrides, one a line
    python -m wilss.launch.sbatch_chain claim [overrides]         # this job takes step t, or refuses
    python -m wilss.launch.sbatch_chain next [overrides]          # prints t+1 if it must be submitted
    python -m wilss.launch.sbatch_chain options SCRIPT SUBMIT_DIR  # this job's sbatch options, one a line
    python -m wilss.launch.sbatch_chain record JOB_ID [overrides] # records t+1's job in its manifest

`claim` refuses a job whose step already belongs to another queued or running job (the same script submitted
twice), as `wilss submit` does: exit status 3, which the script turns into a clean end of the job. `next` prints nothing when step t is the last, or when step t+1 has finished
or already has a queued or running job, e.g. because step t was requeued after it had submitted t+1. So t+1 is
submitted once. `options` reads the command line this job was submitted with (accounting's SubmitLine, on
stdin) and prints every option given before the script, except those the next submission sets itself.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import sys
from contextlib import contextmanager
from pathlib import Path

from wilss.config import load_config, run_dir, step_layout, task_of
from wilss.errors import WilssError, exit_on_user_error
from wilss.launch import slurm
from wilss.launch.manifest import read_manifest, update_manifest
from wilss.launch.submitter import plan_step

USAGE = __doc__.split("\n\n")[1]

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
        return (Path(job.work_dir) / run_dir(load_config(overrides))).resolve()  # a relative one: from WorkDir
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
    directory, job_id = step_layout(cfg), os.environ["SLURM_JOB_ID"]
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
    following = cfg.step + 1
    if following >= task_of(cfg).num_steps:
        return None
    plan = plan_step(step_layout(cfg, following), following, "slurm", resubmit_failed=True)
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


def record(job_id: str, overrides: list[str]) -> None:
    cfg = load_config(overrides)
    update_manifest(step_layout(cfg, cfg.step + 1), step=cfg.step + 1, state="submitted", job_id=job_id,
                    cluster="slurm")


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    command = args[:1]
    if command == ["overrides"] and "--" in args and args.index("--") >= 3:
        split = args.index("--")
        print("\n".join(job_overrides(args[3:split], args[1], args[2], args[split + 1:])))
    elif command == ["claim"]:
        sys.exit(claim(args[1:]))
    elif command == ["next"]:
        following = next_step(args[1:])
        if following is not None:
            print(following)
    elif command == ["options"] and len(args) == 3:
        print("\n".join(split_submit_line(sys.stdin.read().strip(), Path(args[1]), Path(args[2]))[0]))
    elif command == ["record"] and len(args) >= 2:
        record(args[1], args[2:])
    else:
        raise WilssError(f"usage:\n{USAGE}")


if __name__ == "__main__":
    cli()

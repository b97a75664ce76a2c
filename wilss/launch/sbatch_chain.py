"""Bookkeeping for the sbatch scripts (`slurm/*.sbatch`), which submit step t+1 from inside step t's job (their
shared body, `slurm/chain_step.sh`):

    python -m wilss.launch.sbatch_chain claim [overrides]         # this job takes step t, or refuses
    python -m wilss.launch.sbatch_chain next [overrides]          # prints t+1 if it must be submitted
    python -m wilss.launch.sbatch_chain options SCRIPT SUBMIT_DIR  # this job's sbatch options, one a line
    python -m wilss.launch.sbatch_chain record JOB_ID [overrides] # records t+1's job in its manifest

`claim` refuses a job whose step already belongs to another queued or running job (the same script submitted
twice), as `wilss submit` does. `next` prints nothing when step t is the last, or when step t+1 has finished
or already has a queued or running job, e.g. because step t was requeued after it had submitted t+1. So t+1 is
submitted once. `options` reads the command line this job was submitted with (accounting's SubmitLine, on
stdin) and prints every option given before the script, except those the next submission sets itself.
"""

from __future__ import annotations

import fcntl
import os
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


@contextmanager
def step_lock(directory: Path):
    """Two jobs of the same step that start at once decide one after the other."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".claim.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def claim(overrides: list[str]) -> None:
    cfg = load_config(overrides)
    directory, job_id = step_layout(cfg), os.environ["SLURM_JOB_ID"]
    with step_lock(directory.dir):
        owner = read_manifest(directory).get("job_id")
        if owner and owner != job_id:
            state, _ = slurm.job_state(owner)
            if state in slurm.ACTIVE_STATES:
                raise WilssError(f"step {cfg.step} of {run_dir(cfg)} already belongs to job {owner} ({state}); "
                                 f"this job ({job_id}) does not train it a second time. Follow that job with "
                                 f"wilss status {run_dir(cfg)}, or scancel it first to start over.")
        update_manifest(directory, step=cfg.step, state="running", job_id=job_id, cluster="slurm")


def next_step(overrides: list[str]) -> int | None:
    cfg = load_config(overrides)
    following = cfg.step + 1
    if following >= task_of(cfg).num_steps:
        return None
    plan = plan_step(step_layout(cfg, following), following, "slurm", resubmit_failed=True)
    return following if plan.action == "submit" else None


def carried_options(submit_line: str, script: Path, submit_dir: Path) -> list[str]:
    """The options of `sbatch [options] SCRIPT [args]` (as accounting records it: the words joined by spaces,
    so an option value with a space in it cannot be told apart) minus `OWN_OPTIONS`."""
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
    return carried


def record(job_id: str, overrides: list[str]) -> None:
    cfg = load_config(overrides)
    update_manifest(step_layout(cfg, cfg.step + 1), step=cfg.step + 1, state="submitted", job_id=job_id,
                    cluster="slurm")


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    command = args[:1]
    if command == ["claim"]:
        claim(args[1:])
    elif command == ["next"]:
        following = next_step(args[1:])
        if following is not None:
            print(following)
    elif command == ["options"] and len(args) == 3:
        print("\n".join(carried_options(sys.stdin.read().strip(), Path(args[1]), Path(args[2]))))
    elif command == ["record"] and len(args) >= 2:
        record(args[1], args[2:])
    else:
        raise WilssError(f"usage:\n{USAGE}")


if __name__ == "__main__":
    cli()

"""Bookkeeping for the sbatch scripts, which submit step t+1 from inside step t's job (with `sbatch`, on the
host, since the training may run in a container without Slurm's commands):

    python -m wilss.launch.sbatch_chain next [overrides]          # prints t+1 if it must be submitted
    python -m wilss.launch.sbatch_chain record JOB_ID [overrides] # records t+1's job in its manifest

`next` prints nothing when step t is the last, or when step t+1 has finished or already has a queued or
running job, e.g. because step t was requeued after it had submitted t+1. So t+1 is submitted once.
"""

from __future__ import annotations

import sys

from wilss.config import load_config, step_layout, task_of
from wilss.errors import WilssError, exit_on_user_error
from wilss.launch.manifest import update_manifest
from wilss.launch.submitter import plan_step

USAGE = __doc__.split("\n\n")[1]


def next_step(overrides: list[str]) -> int | None:
    cfg = load_config(overrides)
    following = cfg.step + 1
    if following >= task_of(cfg).num_steps:
        return None
    plan = plan_step(step_layout(cfg, following), following, "slurm", resubmit_failed=True)
    return following if plan.action == "submit" else None


def record(job_id: str, overrides: list[str]) -> None:
    cfg = load_config(overrides)
    update_manifest(step_layout(cfg, cfg.step + 1), step=cfg.step + 1, state="submitted", job_id=job_id,
                    cluster="slurm")


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["next"]:
        following = next_step(args[1:])
        if following is not None:
            print(following)
    elif args[:1] == ["record"] and len(args) >= 2:
        record(args[1], args[2:])
    else:
        raise WilssError(f"usage:\n{USAGE}")


if __name__ == "__main__":
    cli()

"""The chain's table once its last step has finished: `python -m wilss.launch.chain_report [overrides]`.

Written by the planners, never by a step's job: the sbatch scripts run this command after the last step's `srun`
(its output ends the last job's log, as `wilss chain`'s ends its run), `wilss submit` queues `ChainReport` after
the last step on Slurm (`afterok`) and runs it after the chain on this machine. It writes `<run dir>/results.md`
and prints the table with, for a config naming recorded results (`expected=`, the demo), the verdict beside them.
"""

from __future__ import annotations

import sys

from wilss.config import load_config
from wilss.errors import exit_on_user_error
from wilss.spec import resolve


def finished_chain_report(overrides: list[str]) -> str | None:
    """The table (and verdict) of the chain of `overrides`, written to results.md; None until every step of the
    chain has finished, or when `overrides` name another step than the last."""
    # The table's helpers live with the training code (torch): imported only here, so that the submitter, which
    # queues `ChainReport` from a login node, does not load them.
    from wilss.chain import end_of_chain, read_step_results

    cfg = load_config(overrides)
    steps = resolve(cfg).steps
    if cfg.step != steps[-1].index or not all(step.files.finished() for step in steps):
        return None
    return end_of_chain(cfg, [read_step_results(cfg, step.index) for step in steps], overrides)


class ChainReport:
    """What submitit runs after the chain's last step: the overrides of that step's job."""

    def __init__(self, overrides: list[str]) -> None:
        self.overrides = list(overrides)

    def __call__(self) -> str | None:
        text = finished_chain_report(self.overrides)
        print(text or "the chain has not finished: no table")
        return text


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    text = finished_chain_report(sys.argv[1:] if argv is None else list(argv))
    if text:
        print(text)


if __name__ == "__main__":
    cli()

"""One step as a scheduler job, on every rank: `python -m wilss.launch.step [overrides]` under `srun` (the
sbatch scripts), or `StepJob` pickled by submitit (`python -m wilss.submit`). The same code either way.

This module imports nothing heavy: the stop signals' handlers are installed first, a few tens of milliseconds
after the process starts, and only then the training (torch, data, models: seconds) is imported. Before that,
the launchers start Python with the stop signals blocked (`wilss.launch.signals`): one sent while the interpreter
starts waits, and reaches the handlers the moment they are in. So a timeout or preemption signal at any moment
is a checkpoint and a requeue, never a death. What the job does is in `wilss.launch.job`; a job that Slurm
preempted for good is submitted again from here (`wilss.launch.preemption`), which is why the submitters take
`StepJob` as an argument instead of importing this module.
"""

from __future__ import annotations

from wilss.cli import read_overrides
from wilss.engine.interrupt import StopRequest
from wilss.errors import exit_on_user_error
from wilss.launch.signals import install_stop_signals

def run_step(overrides: list[str], stop: StopRequest) -> dict:
    """The job's body; a job that Slurm preempted for good is submitted again from here, as it was submitted."""
    # The heavy imports, after the handlers are in place.
    from wilss.launch.job import EXIT_INTERRUPTED, PreemptedForGood, run_job
    from wilss.launch.preemption import resubmit_preempted

    try:
        return run_job(overrides, stop)
    except PreemptedForGood as preempted:
        resubmit_preempted(preempted.cfg, preempted.overrides, preempted.job_id, preempted.reason, StepJob)
        raise SystemExit(EXIT_INTERRUPTED) from None


class StepJob:
    """What submitit pickles for one step: just the overrides, so a requeued job recomposes its config."""

    def __init__(self, overrides: list[str]) -> None:
        self.overrides = list(overrides)

    def __call__(self) -> dict:
        return run_step(self.overrides, install_stop_signals())

    def checkpoint(self, *_args, **_kwargs):
        """submitit calls this when its timeout signal comes before `__call__` replaced its handlers (nothing
        trained yet; only where `env` cannot hold the signals, see `hold_stop_signals_prefix`): requeue the
        same step."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(StepJob(self.overrides))


USAGE = """usage: python -m wilss.launch.step [key=value | group=option ...]

Run one step as a scheduler job (every rank runs this command, e.g. under srun). Timeout and preemption
signals checkpoint at the next iteration and requeue the job; see the README.md that `wilss scripts DIR`
writes beside the sbatch scripts.
"""


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    stop = install_stop_signals()
    args = read_overrides(argv, USAGE)
    if args is not None:
        run_step(args, stop)


if __name__ == "__main__":
    cli()

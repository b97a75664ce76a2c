"""One step as a scheduler job, on every rank: `python -m wilss.launch.step [overrides]` under `srun` (the
sbatch scripts), or `StepJob` pickled by submitit (`python -m wilss.submit`). The same code either way.

This module imports nothing heavy: the stop signals' handlers are installed first, a few tens of milliseconds
after the process starts, and only then the training (torch, data, models: seconds) is imported. Before that,
the launchers start Python with the stop signals blocked (`HOLD_STOP_SIGNALS`): one sent while the interpreter
starts waits, and reaches the handlers the moment they are in. So a timeout or preemption signal at any moment
is a checkpoint and a requeue, never a death. What the job does is in `wilss.launch.job`.
"""

from __future__ import annotations

import shutil
import signal
import subprocess

from wilss.cli import read_overrides
from wilss.engine.interrupt import STOP_SIGNALS, StopRequest
from wilss.errors import exit_on_user_error

TIMEOUT_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)  # sbatch --signal: USR1 in our scripts, USR2 from submitit


# The command prefix that starts a step's Python with the stop signals blocked (GNU env, coreutils >= 8.31);
# wilss/slurm/chain_step.sh spells the same for the sbatch scripts.
HOLD_STOP_SIGNALS = ("env", "--block-signal=" + ",".join(signal.Signals(s).name[3:] for s in STOP_SIGNALS))


def hold_stop_signals_prefix() -> tuple[str, ...]:
    """`HOLD_STOP_SIGNALS` where this machine's `env` has --block-signal, else nothing (the step then has the
    interpreter's start, tens of milliseconds, unguarded, as before)."""
    if shutil.which("env") is None:
        return ()
    works = subprocess.run([*HOLD_STOP_SIGNALS, "true"], capture_output=True).returncode == 0
    return HOLD_STOP_SIGNALS if works else ()


def install_stop_signals() -> StopRequest:
    """A stop request that the scheduler's signals set. Replaces any earlier handlers (submitit's would
    checkpoint inside the handler, mid-iteration), then unblocks the signals the launcher held: one that came
    while the interpreter started is delivered now, to these handlers."""
    stop = StopRequest()
    for stop_signal in STOP_SIGNALS:
        reason = "timeout" if stop_signal in TIMEOUT_SIGNALS else "terminated"
        signal.signal(stop_signal, lambda *_, reason=reason: stop.request(reason))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    return stop


def ignore_timeout_signals() -> None:
    """Once training is over a timeout signal has nothing left to stop, but it must not kill the process: at
    interpreter shutdown Python resets its handlers to the default action (terminate), so a signal arriving
    then turned a finished step into a FAILED job. An ignored signal stays ignored through shutdown."""
    for timeout_signal in TIMEOUT_SIGNALS:
        signal.signal(timeout_signal, signal.SIG_IGN)


def run_step(overrides: list[str], stop: StopRequest) -> dict:
    from wilss.launch.job import run_job  # the heavy imports, after the handlers are in place

    return run_job(overrides, stop)


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

"""The stop signals of a step's job: which ones the scheduler sends, how the launchers hold them while a rank's
Python starts, and the handlers that turn them into a `StopRequest`. Imports nothing heavy: the handlers are
installed a few tens of milliseconds after the process starts, before torch is imported.
"""

from __future__ import annotations

import shutil
import signal
import subprocess

from wilss.engine.interrupt import STOP_SIGNALS, StopRequest

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

"""Stopping a run early without losing work: a request that anything (a signal handler, in practice) may set
at any moment, and that the training loop honours at the next iteration boundary, where the state is whole.

No torch here: the launcher installs its signal handlers from this module before the heavy imports."""

from __future__ import annotations

import atexit
import contextlib
import functools
import multiprocessing
import signal
from collections.abc import Iterator

# What a scheduler sends every process of a job to end it early: a preemption or cancellation notice (TERM), a
# timeout warning (USR1 in slurm/wilss.sbatch, USR2 from submitit).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


# Why a run is asked to stop, by the signal that asked (or the benchmark that ends its own runs).
STOP_REASONS = ("benchmark", "timeout", "terminated")


class StopRequest:
    """Set asynchronously; only records the reason, so it is safe inside a signal handler."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def request(self, reason: str) -> None:
        if reason not in STOP_REASONS:
            raise ValueError(f"unknown stop reason {reason!r}")
        if self.reason is None:
            self.reason = reason

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def agreed(self, max_over_ranks) -> bool:
        """Whether any rank was asked to stop (a collective: every rank calls it at the same point). A rank
        whose own signal is still on its way takes the reason of one that has it, so all log the same."""
        code = max_over_ranks(STOP_REASONS.index(self.reason) + 1 if self.requested else 0)
        if code and not self.requested:
            self.reason = STOP_REASONS[code - 1]
        return code > 0


def leave_stop_signals_to_the_main_process(_worker_id: int = 0) -> None:
    """`worker_init_fn` of every data-loading worker. The scheduler signals all processes of the job, workers
    included; torch's workers die of TERM (and of USR1/USR2 by default), and the main process then fails with
    'DataLoader worker is killed' before it can save. Ignored here, the signal only reaches the training loop,
    which stops the workers itself (see `end_workers_at_exit`). A signal that came while the worker started is
    held (`stop_signals_held`) and discarded here."""
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Around starting data-loading workers: a worker is forked with torch's handlers, which die of TERM, and
    ignores the stop signals only once `leave_stop_signals_to_the_main_process` runs. Held in between (workers
    inherit the mask), a signal reaches the main process when the workers are up, and no worker at all."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


@functools.cache
def end_workers_at_exit() -> None:
    """In the main process, once: at interpreter exit, kill the data-loading workers that are still there.
    Python's multiprocessing ends them with TERM at exit, then waits for them; a worker that ignores TERM
    (above) and was not shut down (an exception left its loader alive) would make that wait endless."""
    atexit.register(_kill_workers)


def _kill_workers() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # torch's handler would report each as a crashed worker
    for child in multiprocessing.active_children():
        child.kill()


class TrainingInterrupted(Exception):
    """Raised after the resume checkpoint of an interrupted run has been written (or, without an iteration,
    during the final evaluation, after `final.pt`)."""

    def __init__(self, reason: str, global_iteration: int | None = None) -> None:
        where = "in the final evaluation" if global_iteration is None else f"at iteration {global_iteration}"
        super().__init__(f"training stopped {where} ({reason}); its checkpoint is saved")
        self.reason, self.global_iteration = reason, global_iteration


class EvaluationInterrupted(Exception):
    """An evaluation left before its end because a stop was requested; its partial counts are discarded."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"evaluation stopped ({reason})")
        self.reason = reason

"""Stopping a run early without losing work: a request that anything (a signal handler, in practice) may set
at any moment, and that the training loop honours at the next iteration boundary, where the state is whole."""

from __future__ import annotations


class StopRequest:
    """Set asynchronously; only records the reason, so it is safe inside a signal handler."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    @property
    def requested(self) -> bool:
        return self.reason is not None


class TrainingInterrupted(Exception):
    """Raised after the resume checkpoint of an interrupted run has been written."""

    def __init__(self, reason: str, global_iteration: int) -> None:
        super().__init__(f"training stopped at iteration {global_iteration} ({reason}); its checkpoint is saved")
        self.reason, self.global_iteration = reason, global_iteration

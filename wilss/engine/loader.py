"""The data loader of training and evaluation: its worker processes leave the scheduler's stop signals to the
training loop (docs/reliability.md, "How a stop works")."""

from __future__ import annotations

from torch.utils.data import DataLoader

from wilss.engine.interrupt import end_workers_at_exit, leave_stop_signals_to_the_main_process, stop_signals_held


class StopSafeLoader(DataLoader):
    """A `DataLoader` whose workers never die of TERM, USR1 or USR2: they ignore them from their first line of
    Python (signals that come while they start are held), and are killed at exit if a failure left them."""

    def __init__(self, *args, **kwargs) -> None:
        end_workers_at_exit()
        super().__init__(*args, worker_init_fn=leave_stop_signals_to_the_main_process, **kwargs)

    def __iter__(self):
        with stop_signals_held():  # the workers start here (persistent ones at the first epoch only)
            return super().__iter__()

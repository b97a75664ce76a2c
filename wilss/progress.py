"""Progress of long loops (dataset scans, preparation) that reads well on a terminal and in a batch log.

On a terminal: a tqdm bar, shown once the loop has run a couple of seconds. Elsewhere (Slurm logs, pipes) a
carriage-return bar would be one unreadable line, so a plain line is printed at most every `LOG_EVERY_S`
seconds, and one at the end when anything was printed.
"""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")
LOG_EVERY_S = 15.0


def progress(items: Iterable[T], total: int | None, desc: str, unit: str = "file") -> Iterator[T]:
    if sys.stderr.isatty():
        yield from tqdm(items, total=total, desc=desc, unit=unit, delay=2, file=sys.stderr)
        return
    yield from _logged(items, total, desc)


def _line(desc: str, done: int, total: int | None, started: float) -> str:
    of = f"/{total} ({100 * done // max(total, 1)}%)" if total else ""
    return f"{desc}: {done}{of} after {time.monotonic() - started:.0f} s"


def _logged(items: Iterable[T], total: int | None, desc: str) -> Iterator[T]:
    started = last = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1
        if time.monotonic() - last >= LOG_EVERY_S:
            last = time.monotonic()
            print(_line(desc, done, total, started), file=sys.stderr, flush=True)
    if last != started:
        print(_line(desc, done, total, started), file=sys.stderr, flush=True)

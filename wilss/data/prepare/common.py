"""Steps every prepare shares: converting many masks in parallel, listing what could not be converted."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from wilss.data.prepare.files import write_file
from wilss.errors import WilssError
from wilss.core import progress

MAX_LISTED = 10


def save_label_map(labels: np.ndarray, dest: Path) -> None:
    """A single-channel 8-bit PNG of raw ids, the format every mask of the kit's layouts has."""
    image = Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8), mode="L")
    write_file(dest, lambda handle: image.save(handle, format="PNG"))


def convert_all(jobs: list[tuple[Path, Path]], convert: Callable[[Path], np.ndarray], desc: str,
                name: Callable[[Path], str], workers: int | None = None) -> list[str]:
    """`convert(source)` saved as the label map `dest` for every (source, dest) not converted yet; the problems
    (missing or unreadable sources, each called by `name(source)`), one line each."""
    def one(job: tuple[Path, Path]) -> str | None:
        source, dest = job
        if dest.is_file():
            return None
        try:
            save_label_map(convert(source), dest)
        except FileNotFoundError:
            return f"{name(source)} is missing"
        except Exception as err:  # noqa: BLE001 - whatever the reader raises, this source file is unusable
            return f"{name(source)} cannot be converted ({err})"
        return None

    with ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1)) as pool:
        return [problem for problem in progress(pool.map(one, jobs), len(jobs), desc) if problem]


def refuse_problems(problems: list[str], what: str, fix: str) -> None:
    if problems:
        listed = "\n  ".join(problems[:MAX_LISTED])
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise WilssError(f"{len(problems)} {what}:\n  {listed}{more}\n{fix} Rerunning the same command resumes "
                         "where this one stopped.")


def write_list(path: Path, lines: list[str]) -> None:
    payload = "".join(f"{line}\n" for line in lines).encode()
    write_file(path, lambda handle: handle.write(payload))


@dataclass(frozen=True)
class Count:
    """The samples an input holds, or a published split gets, and what the official release has."""
    what: str
    found: int
    official: int
    published: bool = False     # a split of the prepared dataset (never published empty)


def refuse_counts(counts: list[Count], subset: bool) -> None:
    """Never publish an empty split, nor (without --subset) one of another size than the official release's:
    a wrong, partial or empty input is refused naming what it holds."""
    wrong = [count for count in counts
             if (count.published and count.found == 0) or (not subset and count.found != count.official)]
    if wrong:
        listed = "\n  ".join(f"{count.what}: {count.found} (official: {count.official})" for count in wrong)
        raise WilssError(f"the inputs do not hold the official release:\n  {listed}\nDownload the archives named "
                         "again (docs/data.md lists them with their checksums), or pass --subset to prepare a "
                         "smaller set on purpose (an empty one is refused even then).")

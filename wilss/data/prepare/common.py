"""Steps every prepare shares: converting many masks in parallel, listing what could not be converted."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
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
                workers: int | None = None) -> list[str]:
    """`convert(source)` saved as the label map `dest` for every (source, dest) not converted yet; the problems
    (missing or unreadable sources), one line each."""
    def one(job: tuple[Path, Path]) -> str | None:
        source, dest = job
        if dest.is_file():
            return None
        try:
            save_label_map(convert(source), dest)
        except FileNotFoundError:
            return f"'{source}' is missing"
        except Exception as err:  # noqa: BLE001 - whatever the reader raises, this source file is unusable
            return f"'{source}' cannot be converted ({err})"
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

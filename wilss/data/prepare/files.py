"""File operations of a prepare: each output file appears whole or not at all, so a resumed prepare can trust
every file it finds; durability is settled once, before the finished folder is published."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from wilss.atomic import atomic_write_bytes, publish_folder
from wilss.errors import WilssError


def write_file(dest: Path, write: Callable) -> None:
    """`write(handle)` into `dest`, whole or not at all (made durable by `publish`)."""
    atomic_write_bytes(dest, write, durable=False)


def link_or_copy(source: Path, dest: Path) -> None:
    """A hard link where the file system allows one (no second copy of a dataset's images), else a copy."""
    if dest.is_file():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except FileExistsError:
        pass
    except OSError:
        with open(source, "rb") as original:
            write_file(dest, lambda handle: shutil.copyfileobj(original, handle))


def require_new(out: Path, option: str) -> Path:
    """`out`, which a prepare creates: it must not exist yet (checked before any work)."""
    out = Path(out)
    if out.exists():
        raise WilssError(f"'{out}' already exists (option {option}); a prepare writes a new dataset folder. Choose "
                         f"another {option}, or delete the folder to prepare it again.")
    return out


def work_of(out: Path) -> Path:
    """The resumable work folder of a prepare writing `out` (kept from an interrupted run)."""
    return Path(out).with_name(f".{Path(out).name}.prepare")


def work_folder(out: Path) -> Path:
    work = work_of(out)
    work.mkdir(parents=True, exist_ok=True)
    return work


def publish(outs: list[Path]) -> None:
    """Drop the extracted sources, make everything durable, then rename each finished folder into place (after
    every dataset of the command is written: a failure leaves none published, and a rerun resumes them all)."""
    for out in outs:
        shutil.rmtree(work_of(out) / "sources", ignore_errors=True)
    os.sync()
    for out in outs:
        publish_folder(work_of(out), out)

"""Writes that a crash at any moment leaves either complete or not there: files and whole folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, write, durable: bool = True) -> None:
    """Call `write(handle)` on a temporary sibling of `path`, then atomically move it into place. `durable`
    also survives a power cut (fsync); without it, a killed process still never leaves a partial file (a
    caller writing many files syncs once at the end)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        fsync_dir(path.parent)


def remove_leftover_temporaries(directory: Path) -> list[Path]:
    """Delete the temporary files that `atomic_write_bytes` calls killed mid-write (SIGKILL, node failure) left
    in `directory` (each may be as large as a checkpoint); return them. Only while nothing writes there."""
    leftovers = sorted(Path(directory).glob(".*.tmp[0-9]*"))
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return leftovers


def leftover_folders(root: Path) -> list[Path]:
    """Work folders an interrupted `atomic_write_folder` of `root` left behind."""
    return sorted(root.parent.glob(f".{root.name}.part-*"))


def atomic_write_folder(root: Path, write: Callable[[Path], None]) -> None:
    """Call `write(folder)` on a new sibling folder, then swap it for `root`: an interruption leaves at worst a
    work folder next to it (see `leftover_folders`), never a half-written `root`."""
    root.parent.mkdir(parents=True, exist_ok=True)
    work = root.with_name(f".{root.name}.part-new-{os.getpid()}")   # mkdir, unlike mkdtemp, honours umask
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        write(work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    publish_folder(work, root)


def publish_folder(work: Path, root: Path) -> None:
    """Swap the finished folder `work` in for `root` (a sibling): renames only, so `root` is at every moment
    either the old folder, absent for an instant, or the new one."""
    if root.exists():
        old = root.with_name(f".{root.name}.part-old-{os.getpid()}")
        root.rename(old)
        work.rename(root)
        shutil.rmtree(old)
    else:
        work.rename(root)
    fsync_dir(root.parent)

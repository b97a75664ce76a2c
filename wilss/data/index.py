"""The class-presence index of a split: which raw ids each mask contains, computed once and cached.

Everything the data layer needs to know about the masks (per-step subsets, image-level label vectors, the
index sizes of docs/method.md, "Reference numbers") derives from this (N, 256) boolean matrix, so no
precomputed `.npy` files are shipped.
The scan decodes every image and mask in full and so is also the dataset check (`wilss data check`): files
exist and decode, sizes agree, ids are legal; its verdict, good or bad, is cached. The cache key hashes the
split list and the size and mtime of every listed file, so an edited file or list invalidates it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from wilss.atomic import atomic_write_bytes
from wilss.data.sources import Split
from wilss.data.validate import open_pair
from wilss.errors import WilssError
from wilss.core import progress

MAX_REPORTED_PROBLEMS = 5


def _cache_key(split: Split) -> str:
    """Changes with the list and with the size or mtime of any listed file."""
    digest = hashlib.sha256(split.list_file.read_bytes())
    for path in (*split.images, *split.masks):
        try:
            stat = path.stat()
            digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}|missing\n".encode())
    return digest.hexdigest()[:20]


def _scan_pair(image: Path, mask: Path, valid: frozenset[int]) -> tuple[np.ndarray | None, str | None]:
    """Presence row of one pair (both files decoded in full), or the problem, naming the file and the fix."""
    try:
        _, labels = open_pair(image, mask)
    except WilssError as err:
        return None, str(err)
    values = np.unique(labels)
    illegal = sorted(set(values.tolist()) - valid)
    if illegal:
        return None, (f"mask '{mask}' contains ids {illegal[:8]} outside the legal ids "
                      f"({min(valid)}..{max(valid - {255})} and 255); fix the mask or remove its line")
    row = np.zeros(256, dtype=bool)
    row[values] = True
    return row, None


def scan_split(split: Split, workers: int | None = None) -> tuple[np.ndarray | None, list[str]]:
    """Decode every pair of the split once, in parallel: the (N, 256) presence matrix, or None and every
    problem found."""
    if not len(split):
        return None, [f"split list '{split.list_file}' is empty; it must list at least one image."]
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        results = list(progress(pool.map(lambda pair: _scan_pair(*pair, split.valid_ids),
                                          zip(split.images, split.masks)),
                                len(split), f"checking {split.list_file}"))
    problems = [problem for _, problem in results if problem]
    return (None if problems else np.stack([row for row, _ in results])), problems


def problems_message(split: Split, problems: list[str], limit: int | None = MAX_REPORTED_PROBLEMS) -> str:
    listed = problems if limit is None else problems[:limit]
    more = f"\n  ... and {len(problems) - len(listed)} more (`wilss data check` lists them all)" \
        if len(listed) < len(problems) else ""
    return (f"{len(problems)} of {len(split)} samples listed in '{split.list_file}' are unusable:\n  "
            + "\n  ".join(listed) + more)


def scan(split: Split, workers: int | None = None) -> np.ndarray:
    """The presence matrix of the split, or an error listing its problems."""
    presence, problems = scan_split(split, workers)
    if problems:
        raise WilssError(problems_message(split, problems))
    return presence


def checked_presence(split: Split, cache_dir: Path) -> tuple[np.ndarray | None, list[str]]:
    """The cached verdict on `split`: its presence matrix, or its problems; the files are decoded on first use.

    The verdict is cached either way, so a second run on a broken dataset fails at once. A lock file
    serialises concurrent callers (DDP ranks, parallel jobs): the first one scans, the others wait and read
    its result. Cache files are written atomically."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = cache_dir / f"presence-{split.name}-{_cache_key(split)}"
    ok, bad = stem.with_suffix(".npy"), stem.with_suffix(".problems.json")
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ok.is_file():
            return np.load(ok), []
        if bad.is_file():
            return None, json.loads(bad.read_text())
        presence, problems = scan_split(split)
        if problems:
            atomic_write_bytes(bad, lambda handle: handle.write(json.dumps(problems).encode()))
        else:
            atomic_write_bytes(ok, lambda handle: np.save(handle, presence))
    return presence, problems


def load_presence(split: Split, cache_dir: Path) -> np.ndarray:
    """The presence matrix of `split` (see `checked_presence`), or an error listing its problems."""
    presence, problems = checked_presence(split, cache_dir)
    if problems:
        raise WilssError(problems_message(split, problems))
    return presence

"""The class-presence index of a split: which raw ids each mask contains, computed once and cached.

Everything the data layer needs to know about the masks (per-step subsets, image-level label vectors, the
index sizes of docs/method.md, "Reference numbers") derives from this (N, 256) boolean matrix, so no precomputed `.npy` files are shipped.
The scan also validates every pair (files exist, sizes agree, ids are legal) and fails with one message that
names the files. The cache key hashes the split list and the size and mtime of every mask, so an edited mask
or list invalidates it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from wilss.data.sources import Split
from wilss.errors import WilssError

MAX_REPORTED_PROBLEMS = 5


def _cache_key(split: Split) -> str:
    digest = hashlib.sha256(split.list_file.read_bytes())
    for mask in split.masks:
        try:
            stat = mask.stat()
            digest.update(f"{mask}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        except FileNotFoundError:
            digest.update(f"{mask}|missing\n".encode())
    return digest.hexdigest()[:20]


def _scan_pair(image: Path, mask: Path, valid: frozenset[int]) -> tuple[np.ndarray | None, str | None]:
    """Presence row of one pair, or a problem description naming the file and the fix."""
    if not image.is_file():
        return None, f"image '{image}' is missing"
    if not mask.is_file():
        return None, f"mask '{mask}' is missing"
    try:
        with Image.open(image) as img:
            image_size = img.size
        with Image.open(mask) as msk:
            if msk.mode not in ("P", "L"):
                return None, f"mask '{mask}' has mode {msk.mode}; masks are single-channel label PNGs (mode P or L)"
            mask_size = msk.size
            values = np.unique(np.asarray(msk))
    except OSError as err:
        return None, f"cannot read '{image}' or '{mask}': {err}"
    if image_size != mask_size:
        return None, f"image '{image}' is {image_size[0]}x{image_size[1]} but its mask is {mask_size[0]}x{mask_size[1]}"
    illegal = sorted(set(values.tolist()) - valid)
    if illegal:
        return None, (
            f"mask '{mask}' contains ids {illegal[:8]} outside the legal ids "
            f"({min(valid)}..{max(valid - {255})} and 255)"
        )
    row = np.zeros(256, dtype=bool)
    row[values] = True
    return row, None


def scan(split: Split, workers: int | None = None) -> np.ndarray:
    """Read every mask of the split once; return the (N, 256) presence matrix or raise listing the problems."""
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda pair: _scan_pair(*pair, split.valid_ids), zip(split.images, split.masks)))
    problems = [problem for _, problem in results if problem]
    if problems:
        listed = "; ".join(problems[:MAX_REPORTED_PROBLEMS])
        more = f" (and {len(problems) - MAX_REPORTED_PROBLEMS} more)" if len(problems) > MAX_REPORTED_PROBLEMS else ""
        raise WilssError(
            f"{len(problems)} of {len(split)} samples listed in '{split.list_file}' are unusable: {listed}{more}. "
            "Fix or remove those files, or remove their lines from the split list."
        )
    if not results:
        raise WilssError(f"split list '{split.list_file}' is empty; it must list at least one image.")
    return np.stack([row for row, _ in results])


def load_presence(split: Split, cache_dir: Path) -> np.ndarray:
    """The cached presence matrix of `split`, scanning the masks on first use.

    A lock file serialises concurrent callers (DDP ranks, parallel jobs): the first one scans, the others
    wait and read its result. The cache file is written atomically.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"presence-{split.name}-{_cache_key(split)}.npy"
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return np.load(path)
        presence = scan(split)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as handle:
            np.save(handle, presence)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    return presence

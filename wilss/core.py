"""Helpers every layer shares: file hashing, deterministic kernels, the `wilss` logger. Light on purpose (no
torch at import), so that the launch layer can use it on a login node."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("wilss")


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def configure_determinism(enabled: bool) -> None:
    """Bitwise-reproducible kernels (slower on GPU) or cuDNN's autotuned ones."""
    import torch  # here, not at import: the launch layer imports this module without torch

    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it to be deterministic
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.benchmark = not enabled


def setup_logging(directory: Path, is_main: bool, file_name: str = "train.log") -> None:
    """Rank 0 logs progress to the console and appends to `directory/file_name`; other ranks only warn."""
    log.handlers.clear()
    log.setLevel(logging.INFO if is_main else logging.WARNING)
    log.propagate = False
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if is_main:
        directory.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(directory / file_name, mode="a"))
    for handler in handlers:
        handler.setFormatter(formatter)
        log.addHandler(handler)

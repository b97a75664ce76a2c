"""Helpers every layer shares: file hashing, deterministic kernels, the `wilss` logger and its progress lines.
Light on purpose (no torch at import), so that the launch layer can use it on a login node."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

log = logging.getLogger("wilss")
T = TypeVar("T")

# The files and md5s of the mapillary model zoo (the md5s are also each model config's `pretrained_md5`); here, not
# in wilss.models.pretrained, because `wilss submit` names them on a login node, without torch.
DOWNLOAD_HELP = (
    "Download it from the model zoo in the mapillary/inplace_abn README: for resnet101 'ResNet101v1, InPlace-ABN sync' "
    "saved as resnet101_iabn_sync.pth.tar (md5 1552ae0f3d610108df702135f56bd27b; also mirrored at "
    "https://github.com/arthurdouillard/CVPR2021_PLOP/releases/download/v1.0/resnet101_iabn_sync.pth.tar), for "
    "wideresnet38 'WideResNet38, InPlace-ABN' saved as wide_resnet38_ipabn_lr_256.pth.tar "
    "(md5 1c085ab70b789cc1d6c1594f7a761007). Do not use the 'Download' link of the WILSON README: it is the "
    "ResNeXt-101 model, which does not fit. Or set model.pretrained=null to start from random weights."
)


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


def setup_logging(log_file: Path, is_main: bool) -> None:
    """Rank 0 logs progress to the console and appends to `log_file`; other ranks only warn."""
    log.handlers.clear()
    log.setLevel(logging.INFO if is_main else logging.WARNING)
    log.propagate = False
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if is_main:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="a"))
    for handler in handlers:
        handler.setFormatter(formatter)
        log.addHandler(handler)


def duration(seconds: float) -> str:
    """12 s, 3 min 05 s, 2 h 04 min: readable at a glance in a log line."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class ProgressLine:
    """Progress of a phase that runs for minutes without other output, as plain lines (a bar would be one endless
    line in a Slurm log): one when it starts, then one every `every_s` seconds with count, rate and ETA (the
    share and ETA only with a known `total`), and one when it ends. Logged through `log` if it has handlers (a
    training step), else printed."""

    def __init__(self, what: str, total: int | None, unit: str = "images", every_s: float = 30.0) -> None:
        self.what, self.total, self.unit, self.every_s = what, total, unit, every_s
        self.done = 0
        self.started = self.last = time.perf_counter()
        self._say(f"{what}: {total} {unit}" if total is not None else f"{what}...")

    def _say(self, line: str) -> None:
        if log.handlers:
            log.info(line)
        else:
            print(line, flush=True)

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.perf_counter()
        if now - self.last < self.every_s or self.done == self.total:
            return
        self.last = now
        rate = self.done / (now - self.started)
        if self.total is None:
            self._say(f"{self.what}: {self.done} {self.unit}, {rate:.1f}/s")
            return
        self._say(f"{self.what}: {self.done}/{self.total} {self.unit} ({100 * self.done // max(self.total, 1)}%), "
                  f"{rate:.1f}/s, eta {duration((self.total - self.done) / max(rate, 1e-9))}")

    def finish(self) -> None:
        self._say(f"{self.what}: {self.done} {self.unit} in {duration(time.perf_counter() - self.started)}")


def progress(items: Iterable[T], total: int | None, what: str, unit: str = "files") -> Iterator[T]:
    """`items`, with their progress shown: a tqdm bar on a terminal (once the loop has run two seconds),
    `ProgressLine`s elsewhere (Slurm logs, pipes)."""
    if sys.stderr.isatty():
        from tqdm import tqdm  # here, not at import: most commands never show a bar

        yield from tqdm(items, total=total, desc=what, unit=unit, delay=2, file=sys.stderr)
        return
    line = ProgressLine(what, total, unit, every_s=15.0)
    for item in items:
        yield item
        line.advance()
    line.finish()


# CPU flags (Linux /proc/cpuinfo) of bf16 arithmetic in hardware: x86's AVX512-BF16 and AMX, Arm's BF16. torch has
# no public query for them.
BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bf16 in hardware. Without it (an AVX2-only CPU) oneDNN emulates bf16 and
    autocast trains 10-20x slower than fp32 (measured: ResNet-18, batch 16 at 128 px). Unknown (no
    /proc/cpuinfo) counts as no: fp32 is never the slow choice."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return bool(BF16_CPU_FLAGS & set(value.split()))
    return False

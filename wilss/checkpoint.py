"""Checkpoints that survive crashes and say what they are.

Each checkpoint is one `.pt` file (tensors and plain Python only, so it loads with `weights_only=True`)
written atomically: temporary file, fsync, rename, fsync of the folder. A crash at any moment leaves either
the previous file or the new one, never a torn one. Next to it, a JSON sidecar (config, class order, step,
progress, metrics, code version) for people and tools; the same metadata is inside the `.pt`, so the file is
self-describing. Two files per step: `last.pt` (full resume state, rewritten during training) and `final.pt`
(model weights after the last epoch, the input of the next step).
"""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
from pathlib import Path

import torch

import wilss
from wilss.data.tasks import Task
from wilss.atomic import atomic_write_bytes
from wilss.errors import WilssError


def code_version() -> str:
    """Package version plus the git commit of the source tree when there is one."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(wilss.__file__).parent,
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{wilss.__version__}+{commit}" if commit else wilss.__version__


def task_meta(task: Task) -> dict:
    """What a checkpoint must agree on with the run that loads it."""
    return {"dataset": task.dataset, "task": task.name, "step": task.step, "order": list(task.order)}


def save_checkpoint(path: Path, state: dict, meta: dict) -> None:
    """Write `state` (+ `meta` inside it) atomically, then the JSON sidecar `<path>.json`. A full or
    read-only disk is a `WilssError` that says so (torch's own error for it is an 'unexpected pos')."""
    payload = dict(state, meta=meta)
    sidecar = json.dumps(meta, indent=2, default=str).encode()
    try:
        atomic_write_bytes(path, lambda handle: torch.save(payload, handle))
        atomic_write_bytes(path.with_suffix(".json"), lambda handle: handle.write(sidecar))
    except (OSError, RuntimeError) as err:
        problem = storage_problem(path, tensor_bytes(payload), err)
        if problem is None:
            raise
        raise WilssError(problem) from err


def tensor_bytes(value) -> int:
    """The bytes of every tensor in a nested state: about the size of its checkpoint."""
    if isinstance(value, torch.Tensor):
        return value.nbytes
    if isinstance(value, dict):
        return sum(tensor_bytes(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(item) for item in value)
    return 0


def storage_problem(path: Path, needed: int, err: Exception) -> str | None:
    """What went wrong writing `path`, in words, when the file system is to blame; None otherwise."""
    code = err.errno if isinstance(err, OSError) else None
    if code == errno.EROFS:
        return (f"cannot write checkpoint '{path}': its file system is read-only. Point output_root (or run_dir) "
                "at a writable disk; the step resumes from its last checkpoint.")
    if code == errno.EACCES:
        return f"cannot write checkpoint '{path}': permission denied on '{path.parent}'. Fix its permissions."
    free = shutil.disk_usage(path.parent).free
    if code in (errno.ENOSPC, errno.EDQUOT) or free < needed:
        return (f"cannot write checkpoint '{path}': no space left on its disk (quota or file system full: "
                f"{free / 2**20:.1f} MiB free, the checkpoint needs about {needed / 2**20:.1f} MiB). Free space "
                "there or point output_root (or run_dir) at another disk; the step resumes from its last "
                "checkpoint.")
    return None


def load_checkpoint(path: Path, option: str = "step_ckpt") -> dict:
    """Load a checkpoint written by `save_checkpoint` (tensors and plain Python only)."""
    path = Path(path)
    if not path.is_file():
        raise WilssError(f"checkpoint '{path}' does not exist (option {option}); train the previous step first "
                         "or point the option at its final.pt.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise WilssError(f"checkpoint '{path}' cannot be read ({type(err).__name__}: {err}); it is not a wilss "
                         f"checkpoint or it is damaged. Use another file (option {option}).") from None


def check_meta(checkpoint: dict, path: Path, expected: dict, option: str = "step_ckpt") -> None:
    """Refuse a checkpoint of another dataset, task, step or class order, naming the mismatch."""
    found = checkpoint.get("meta", {})
    wrong = [f"{key}: checkpoint has {found.get(key)!r}, run expects {value!r}"
             for key, value in expected.items() if found.get(key) != value]
    if wrong:
        raise WilssError(f"checkpoint '{path}' does not belong to this run ({'; '.join(wrong)}). "
                         f"Pass the right file with {option}=..., or change the task/step options.")


"""Checkpoints that survive crashes and say what they are.

Each checkpoint is one `.pt` file (tensors and plain Python only, so it loads with `weights_only=True`)
written atomically: temporary file, fsync, rename, fsync of the folder. A crash at any moment leaves either
the previous file or the new one, never a torn one. Next to it, a JSON sidecar (config, class order, step,
progress, metrics, code version) for people and tools; the same metadata is inside the `.pt`, so the file is
self-describing. Two files per step: `last.pt` (full resume state, rewritten during training) and `final.pt`
(model weights after the last epoch, the input of the next step).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import torch

import wilss
from wilss.data.tasks import Task
from wilss.atomic import atomic_write_bytes
from wilss.errors import WilssError
from wilss.layout import sidecar as metadata_path


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
    """Write `state` (+ `meta` inside it) atomically, then the JSON sidecar `<path>.json`."""
    atomic_write_bytes(path, lambda handle: torch.save(dict(state, meta=meta), handle))
    payload = json.dumps(meta, indent=2, default=str).encode()
    atomic_write_bytes(metadata_path(path), lambda handle: handle.write(payload))


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


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
from wilss.layout import sidecar as metadata_path


def code_version() -> str:
    """Package version plus the git commit of the source tree when there is one."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(wilss.__file__).parent,
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{wilss.__version__}+{commit}" if commit else wilss.__version__


RESUME_KEYS = ("modules", "optimizer", "schedule", "scaler", "progress", "rng")
MODEL_KEYS = ("backbone", "output_stride")   # what changes the meaning of a model's weights


def task_meta(task: Task) -> dict:
    """What a checkpoint must agree on with the run that loads it."""
    return {"dataset": task.dataset, "task": task.name, "step": task.step, "order": list(task.order)}


def run_meta(task: Task, overlap: bool, model_cfg) -> dict:
    """`task_meta` plus the setting and the model: a disjoint run must not start from an overlap step, nor a
    ResNet-101 at output stride 16 from weights trained otherwise."""
    return task_meta(task) | {"overlap": bool(overlap), "model": {key: model_cfg[key] for key in MODEL_KEYS}}


def save_checkpoint(path: Path, state: dict, meta: dict) -> None:
    """Write `state` (+ `meta` inside it) atomically, then the JSON sidecar `<path>.json`. A full or
    read-only disk is a `WilssError` that says so (torch's own error for it is an 'unexpected pos')."""
    payload = dict(state, meta=meta)
    sidecar = json.dumps(meta, indent=2, default=str).encode()
    try:
        atomic_write_bytes(path, lambda handle: torch.save(payload, handle))
        atomic_write_bytes(metadata_path(path), lambda handle: handle.write(sidecar))
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
    if path.is_dir():
        raise WilssError(f"'{path}' is a folder where a checkpoint file should be (option {option}); move the "
                         "folder away or delete it, then rerun.")
    if not path.is_file():
        raise WilssError(f"checkpoint '{path}' does not exist (option {option}); train the previous step first "
                         "or point the option at its final.pt.")
    if path.stat().st_size == 0:
        raise WilssError(f"checkpoint '{path}' is empty (0 bytes): a copy or download of it was interrupted "
                         f"(the kit itself never leaves one). Copy it again from its source, pass another file "
                         f"(option {option}), or delete it to train that step from the start.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise WilssError(f"checkpoint '{path}' cannot be read ({type(err).__name__}: {err}); it is not a wilss "
                         f"checkpoint or it is damaged. Use another file (option {option}).") from None


_NOT_RECORDED = object()


def _recorded(meta: dict, key: str):
    """A meta entry; checkpoints written before it was recorded still carry it in their saved config."""
    if key in meta:
        return meta[key]
    config = meta.get("config") or {}
    if key == "model" and "model" in config:
        return {name: config["model"].get(name) for name in MODEL_KEYS}
    return config.get(key, _NOT_RECORDED)


def check_meta(checkpoint: dict, path: Path, expected: dict, option: str = "step_ckpt") -> None:
    """Refuse a checkpoint of another dataset, task, step, class order, setting or model, naming the mismatch.
    An entry the checkpoint does not record at all cannot be compared and is skipped."""
    found = {key: _recorded(checkpoint.get("meta", {}), key) for key in expected}
    wrong = [f"{key}: checkpoint has {found[key]!r}, run expects {value!r}"
             for key, value in expected.items() if found[key] is not _NOT_RECORDED and found[key] != value]
    if wrong:
        raise WilssError(f"checkpoint '{path}' does not belong to this run ({'; '.join(wrong)}). "
                         f"Pass the right file with {option}=..., or change the task/step options.")



def _non_finite(value, name: str) -> str | None:
    """The name of the first floating tensor holding NaN or inf inside nested dicts and lists, if any."""
    if isinstance(value, torch.Tensor):
        return name if value.is_floating_point() and not torch.isfinite(value).all() else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    return next((bad for key, item in items if (bad := _non_finite(item, f"{name}.{key}" if name else str(key)))),
                None)


def check_contents(checkpoint: dict, path: Path, resume: bool, option: str) -> None:
    """Weights to start or evaluate from (`final.pt`, step t-1), or a full resume state (`last.pt`), all
    finite."""
    if not isinstance(checkpoint.get("modules"), dict) or "model" not in checkpoint["modules"]:
        raise WilssError(f"checkpoint '{path}' holds no model weights (option {option}); it is not a wilss "
                         "checkpoint. Use the final.pt of the step instead.")
    missing = [key for key in RESUME_KEYS if key not in checkpoint] if resume else []
    if missing:
        raise WilssError(f"'{path}' holds final weights only (no {', '.join(missing)}), not a resume state: "
                         "training cannot continue from it. If it is a copy of final.pt, move it to "
                         f"'{path.with_name('final.pt')}' to evaluate it, or delete it to train the step again.")
    bad = _non_finite({key: checkpoint.get(key) for key in RESUME_KEYS}, "")
    if bad:
        raise WilssError(f"checkpoint '{path}' holds NaN or infinite values (in {bad}) (option {option}): the "
                         "run that wrote it diverged. Retrain that step (e.g. with a lower learning rate) or "
                         "use an earlier checkpoint.")


def _first_mismatch(saved: dict, own: dict, prefix: str) -> str | None:
    """The first key where saved weights and a module's own state differ: absent on one side, or shaped
    otherwise."""
    for key, value in own.items():
        if key not in saved:
            return f"'{prefix}{key}' is not in the checkpoint"
        found, expected = getattr(saved[key], "shape", None), getattr(value, "shape", None)
        if found != expected:
            return (f"'{prefix}{key}' has shape {tuple(found or ())} in the checkpoint but "
                    f"{tuple(expected or ())} in the model")
    extra = next((key for key in saved if key not in own), None)
    return None if extra is None else f"the checkpoint has '{prefix}{extra}', which the model lacks"


def check_fits(checkpoint: dict, modules: dict[str, torch.nn.Module], path: Path, option: str) -> None:
    """Refuse a resume state whose weights do not fit the modules built for this run, naming the first
    mismatching key (torch's own error is a traceback listing every one)."""
    saved = checkpoint["modules"]
    for name, module in modules.items():
        problem = (_first_mismatch(saved[name], module.state_dict(), f"{name}.") if isinstance(saved.get(name), dict)
                   else f"it holds no '{name}' weights")
        if problem:
            raise WilssError(f"checkpoint '{path}' does not fit the model of this run: {problem}. It was written "
                             "by a run with another model or class configuration. Pass another run directory "
                             f"({option}=...) for this configuration, or delete '{path}' to train the step from "
                             "the start.")


def load_checked(path: Path, expected: dict, option: str, resume: bool = False) -> dict:
    """Load a checkpoint and refuse it unless it belongs to this run, has the right format and is finite."""
    checkpoint = load_checkpoint(path, option)
    check_meta(checkpoint, path, expected, option)
    check_contents(checkpoint, path, resume, option)
    return checkpoint

"""The run directory: writable, with room for the checkpoints the pending steps will write."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from omegaconf import DictConfig

from wilss.errors import WilssError
from wilss.preflight.skip import Skipped
from wilss.preflight.steps import pending_steps
from wilss.spec import resolve, run_dir

# Per step: last.pt (weights + one SGD momentum buffer each), final.pt (weights) and, while a checkpoint is
# rewritten atomically, the new last.pt beside the old one: about 5 copies of the weights at the peak.
CHECKPOINT_COPIES_PER_STEP = 5
HEADROOM = 1.2  # TensorBoard, logs, the dataset index cache


def existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def model_bytes(cfg: DictConfig) -> int:
    """Size of the last step's weights, from a model built on the meta device (no memory, no weights file).
    `wilss doctor` only: building a model needs torch, which `wilss submit` does not load."""
    import torch

    from wilss.models import build_model

    last = resolve(cfg).steps[-1].model.without_weights_file()
    with torch.device("meta"):  # the native norm layer: the same weights, and InPlace-ABN may not be installed here
        model = build_model(**(last.to_dict() | {"norm": "native"}))
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def writable_problems(cfg: DictConfig) -> list[str]:
    """What `wilss submit` checks: the run directory can be written (its size needs the model: `wilss doctor`)."""
    directory = run_dir(cfg)
    target = existing_ancestor(directory)
    if not target.is_dir():
        return [f"output directory {directory}: {target} is a file: choose another output_root= or run_dir="]
    try:
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as err:
        return [f"output directory {directory}: cannot write in {target} ({err.strerror}): choose a writable "
                f"output_root=PATH (or run_dir=PATH)"]
    return []


def problems(cfg: DictConfig) -> list[str]:
    """Writable, with room for the checkpoints of the pending steps."""
    unwritable = writable_problems(cfg)
    if unwritable:
        return unwritable
    directory = run_dir(cfg)
    target = existing_ancestor(directory)
    steps = pending_steps(cfg)
    try:
        weights = model_bytes(cfg)
    except WilssError as err:
        raise Skipped(f"writable; the checkpoints' size needs the model, which does not build ({err})") from None
    need = int(len(steps) * CHECKPOINT_COPIES_PER_STEP * weights * HEADROOM)
    free = shutil.disk_usage(target).free
    if free < need:
        return [f"output directory {directory}: {free / 1e9:.1f} GB free on its file system, the checkpoints of "
                f"{len(steps)} step(s) need about {need / 1e9:.1f} GB: free space or choose output_root= elsewhere"]
    return []

"""Loading the ImageNet InPlace-ABN checkpoints of the mapillary model zoo into a body (docs/method.md, "Model").

File layout (mapillary `scripts/train_imagenet.py`): a pickled dict {"epoch", "arch", "state_dict", "best_prec1",
"optimizer"} of ints, strings, floats and tensors, which `torch.load(weights_only=True)` accepts; the state-dict keys
carry the DataParallel prefix `module.` and include the 1000-way `classifier.fc.*`, which the body does not have.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import torch
from torch import nn

from wilss.core import DOWNLOAD_HELP
from wilss.errors import WilssError


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def md5_problem(path: Path, expected_md5: str | None) -> str | None:
    """What is wrong with the file's md5 (None if it matches or none is expected); also `wilss doctor`'s check."""
    if expected_md5 is None:
        return None
    actual = file_md5(path)
    if actual == expected_md5.lower():
        return None
    return (f"model.pretrained: {path} has md5 {actual}, expected {expected_md5} (model.pretrained_md5). The file "
            f"is incomplete or a different model. {DOWNLOAD_HELP}")


def load_imagenet_weights(body: nn.Module, path: str | Path, expected_md5: str | None, trusted: bool = False) -> None:
    """Load an ImageNet InPlace-ABN checkpoint into `body` strictly (every body tensor must come from the file).

    The file is read with `weights_only=True` (no code execution); `trusted=True` (`model.pretrained_trusted=true`)
    falls back to full unpickling for files that need it — only for files from a source you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise WilssError(f"model.pretrained: ImageNet weights {path} not found. {DOWNLOAD_HELP}")
    problem = md5_problem(path, expected_md5)
    if problem:
        raise WilssError(problem)
    with path.open("rb") as f:
        head = f.read(64).lstrip()
    if head.startswith((b"<", b"version https://git-lfs")):
        raise WilssError(
            f"model.pretrained: {path} is a web page or a git-lfs pointer, not a checkpoint (Google Drive serves a "
            f"confirmation page for large files to plain wget/curl). {DOWNLOAD_HELP}"
        )
    checkpoint = _load_checkpoint(path, trusted)
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise WilssError(f"model.pretrained: {path} has no 'state_dict' entry; it is not an ImageNet InPlace-ABN "
                         f"checkpoint. {DOWNLOAD_HELP}")
    state = {key.removeprefix("module."): value for key, value in state.items()}  # DataParallel prefix
    state = {key: value for key, value in state.items() if not key.startswith("classifier.fc.")}
    try:
        # strict=False so that num_batches_tracked, absent from old files, is filled by the norm layers' load hook;
        # every other difference is reported below.
        result = body.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise WilssError(f"model.pretrained: {path} does not fit the {type(body).__name__} body "
                         f"(wrong backbone for these weights?): {err}") from err
    if result.missing_keys or result.unexpected_keys:
        raise WilssError(
            f"model.pretrained: {path} does not fit the {type(body).__name__} body (wrong backbone for these "
            f"weights?): {len(result.missing_keys)} missing keys, e.g. {result.missing_keys[:5]}; "
            f"{len(result.unexpected_keys)} unexpected keys, e.g. {result.unexpected_keys[:5]}."
        )


def _load_checkpoint(path: Path, trusted: bool) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not trusted:
            raise WilssError(
                f"model.pretrained: the safe loader (torch.load weights_only=True) cannot read {path}: "
                f"{_weights_only_reason(err)}. If the file is corrupt, download it again ({DOWNLOAD_HELP}) If it "
                f"holds Python objects and comes from a source you trust (check its md5 with model.pretrained_md5), "
                f"set model.pretrained_trusted=true to load it with full unpickling, which can execute code in the "
                f"file."
            ) from err
    except (EOFError, RuntimeError) as err:  # truncated download, broken zip archive
        raise WilssError(f"model.pretrained: {path} is truncated or corrupt ({err}). {DOWNLOAD_HELP}") from err
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, EOFError, RuntimeError) as err:
        raise WilssError(f"model.pretrained: {path} is truncated or corrupt ({err}). {DOWNLOAD_HELP}") from err


def _weights_only_reason(err: Exception) -> str:
    """The specific part of torch's long weights_only message (e.g. "Unsupported global: GLOBAL foo.Bar ...")."""
    text = str(err)
    _, found, reason = text.partition("WeightsUnpickler error:")
    reason = reason.split("Check the documentation")[0] if found else text.splitlines()[0] if text else repr(err)
    return " ".join(reason.split()).rstrip(".")

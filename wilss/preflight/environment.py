"""torch, CUDA, the NVIDIA driver and the compiled InPlace-ABN extension, as the run will use them.

The InPlace-ABN kernels must be compiled with torch's CUDA release (nvcc writes it into the binary), or they fail
to load or crash at run time — the most common problem users of the original code report.

What `wilss submit` checks is read from the installed files (package metadata, torch's `version.py`, the
extension's library), without importing torch on the login node; whether this machine's GPUs run torch and the
extension loads needs torch itself, and is `wilss doctor`'s.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata, util
from pathlib import Path

from omegaconf import DictConfig
from packaging.requirements import Requirement
from packaging.version import Version

from wilss.errors import MissingDependency
from wilss.preflight.outputs import model_bytes
from wilss.preflight.skip import Skipped
from wilss.preflight.steps import runs_here

NVCC_RELEASE = re.compile(rb"Cuda compilation tools, release (\d+\.\d+)")
TORCH_CUDA = re.compile(r"^cuda(?:: [^=]+)? = ['\"]([^'\"]+)['\"]", flags=re.M)  # torch/version.py: cuda = '12.4'


def driver_version() -> str | None:
    """The NVIDIA driver's version from nvidia-smi; None without one."""
    if shutil.which("nvidia-smi") is None:
        return None
    done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                          capture_output=True, text=True, timeout=60)
    return done.stdout.split()[0] if done.returncode == 0 and done.stdout.split() else None


def facts() -> list[str]:
    import torch  # `wilss doctor` only: submit reads the installed files instead

    return [f"torch {torch.__version__}, CUDA {torch.version.cuda or 'none'}, {torch.cuda.device_count()} GPU(s) "
            f"visible, NVIDIA driver {driver_version() or 'none'}, python {sys.version.split()[0]}"]


def package_dir(name: str) -> Path | None:
    """Where an installed package lives, found without importing it."""
    spec = util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def torch_cuda_release() -> str | None:
    """The CUDA release of the installed torch (None: a CPU build), from its `version.py`, as torch.version.cuda."""
    folder = package_dir("torch")
    found = TORCH_CUDA.search((folder / "version.py").read_text()) if folder else None
    return found.group(1) if found else None


def extension_cuda_release(library: Path) -> str | None:
    """The CUDA release the extension's kernels were compiled with; None for a CPU-only build."""
    match = NVCC_RELEASE.search(Path(library).read_bytes())
    return match.group(1).decode() if match else None


def release_problems(library: Path) -> tuple[list[str], list[str]]:
    """(facts, problems) of the extension's library against the installed torch's CUDA release."""
    built_with, torch_cuda = extension_cuda_release(library), torch_cuda_release()
    found = [f"inplace_abn: {library}", f"inplace_abn kernels compiled with CUDA {built_with or 'none (CPU)'}"]
    if torch_cuda and built_with != torch_cuda:
        return found, [f"inplace_abn was compiled with CUDA {built_with or 'none'} but torch "
                       f"{metadata.version('torch')} uses CUDA {torch_cuda}: rebuild it with "
                       f"scripts/build_inplace_abn.sh against this torch"]
    return found, []


def inplace_abn_problems() -> tuple[list[str], list[str]]:
    """(facts, problems) about the installed inplace_abn, imported (`wilss doctor`: it loads with this torch)."""
    try:
        from inplace_abn import _backend
    except ImportError as err:
        return [], [f"inplace_abn cannot be imported ({err}): build it with scripts/build_inplace_abn.sh, or use "
                    f"model.norm=native"]
    return release_problems(Path(_backend.__file__))


def installed_inplace_abn_problems() -> list[str]:
    """The extension's library installed and built for torch's CUDA, read from the files (no import)."""
    folder = package_dir("inplace_abn")
    libraries = sorted(folder.glob("_backend*.so")) if folder else []
    if not libraries:
        return ["inplace_abn is not installed: build it with scripts/build_inplace_abn.sh, or use model.norm=native"]
    return release_problems(libraries[0])[1]


def torch_range_problems() -> list[str]:
    """torch and torchvision inside the ranges the installed wilss declares (skipped for a source checkout that
    was never installed)."""
    try:
        requirements = [Requirement(text) for text in metadata.requires("wilss") or []]
    except metadata.PackageNotFoundError:
        return []
    problems = []
    for requirement in requirements:
        if requirement.name in ("torch", "torchvision") and not requirement.marker:
            installed = Version(metadata.version(requirement.name)).public
            if installed not in requirement.specifier:
                problems.append(f"{requirement.name} {installed} is outside the range wilss supports "
                                f"({requirement.specifier}): install a supported one (pip install -c constraints.txt "
                                f"{requirement.name}), or test this one with scripts/gpu_check.sh")
    return problems


def version_problems(cfg: DictConfig) -> list[str]:
    """The installed versions, and a CUDA build of torch for GPU jobs (read from the files: no torch import)."""
    found = torch_range_problems()
    if cfg.launch.gpus_per_node > 0 and not runs_here(cfg) and torch_cuda_release() is None:
        found.append(f"torch {metadata.version('torch')} is a CPU build but launch.gpus_per_node="
                     f"{cfg.launch.gpus_per_node}: install a CUDA build of torch in the jobs' environment, or set "
                     f"launch.gpus_per_node=0")
    return found


def installed_problems(cfg: DictConfig) -> list[str]:
    """What `wilss submit` checks: the versions and the extension's build, torch-free."""
    return version_problems(cfg) + (installed_inplace_abn_problems() if cfg.model.norm == "inplace_abn" else [])


def gpu_problems(cfg: DictConfig) -> list[str]:
    """A run that starts here with train.device=cuda: this machine's GPUs run torch (the driver against torch's CUDA
    release). Only the loaded torch knows."""
    if not runs_here(cfg) or cfg.train.device != "cuda":
        return []
    import torch  # `wilss doctor` only

    if torch.cuda.is_available():
        return []
    reason = ("torch is a CPU build" if torch.version.cuda is None else
              f"no GPU is usable with torch's CUDA {torch.version.cuda} (NVIDIA driver "
              f"{driver_version() or 'not found'}; a driver older than the CUDA release cannot run it)")
    return [f"train.device=cuda but {reason}: run on a GPU machine with a recent driver, or set train.device=auto"]


def problems(cfg: DictConfig) -> list[str]:
    """`wilss doctor`: the versions, this machine's GPUs for a run that starts here, and the extension loads."""
    found = version_problems(cfg) + gpu_problems(cfg)
    return found + (inplace_abn_problems()[1] if cfg.model.norm == "inplace_abn" else [])


def optional_package_problems(cfg: DictConfig) -> list[str]:
    """What `wilss submit` checks of the model without building it: the timm backbones (the models configured
    with model.options.timm_model) need timm, found without importing it."""
    if not cfg.model.options.get("timm_model"):
        raise Skipped(f"model.backbone={cfg.model.backbone} needs no optional package")
    if util.find_spec("timm"):
        return []
    return [f"missing optional dependency: {MissingDependency.timm(cfg.model.backbone)}"]


def model_problems(cfg: DictConfig) -> list[str]:
    """The configured model builds (on the meta device: no memory, no weights); an optional package it needs
    (timm for the timm backbones) is named as such. `wilss doctor` only: building a model needs torch."""
    try:
        model_bytes(cfg)
    except MissingDependency as err:
        return [f"missing optional dependency: {err}"]
    return []

"""torch, CUDA, the NVIDIA driver and the compiled InPlace-ABN extension, as the run will use them.

The InPlace-ABN kernels must be compiled with torch's CUDA release (nvcc writes it into the binary), or they fail
to load or crash at run time — the most common problem users of the original code report.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch
from omegaconf import DictConfig
from packaging.requirements import Requirement
from packaging.version import Version

from wilss.errors import MissingDependency
from wilss.preflight.outputs import model_bytes
from wilss.preflight.steps import runs_here

NVCC_RELEASE = re.compile(rb"Cuda compilation tools, release (\d+\.\d+)")


def driver_version() -> str | None:
    """The NVIDIA driver's version from nvidia-smi; None without one."""
    if shutil.which("nvidia-smi") is None:
        return None
    done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                          capture_output=True, text=True, timeout=60)
    return done.stdout.split()[0] if done.returncode == 0 and done.stdout.split() else None


def facts() -> list[str]:
    return [f"torch {torch.__version__}, CUDA {torch.version.cuda or 'none'}, {torch.cuda.device_count()} GPU(s) "
            f"visible, NVIDIA driver {driver_version() or 'none'}, python {sys.version.split()[0]}"]


def extension_cuda_release(library: Path) -> str | None:
    """The CUDA release the extension's kernels were compiled with; None for a CPU-only build."""
    match = NVCC_RELEASE.search(Path(library).read_bytes())
    return match.group(1).decode() if match else None


def inplace_abn_problems() -> tuple[list[str], list[str]]:
    """(facts, problems) about the installed inplace_abn."""
    try:
        from inplace_abn import _backend
    except ImportError as err:
        return [], [f"inplace_abn cannot be imported ({err}): build it with scripts/build_inplace_abn.sh, or use "
                    f"model.norm=native"]
    built_with = extension_cuda_release(Path(_backend.__file__))
    found = [f"inplace_abn: {_backend.__file__}", f"inplace_abn kernels compiled with CUDA {built_with or 'none (CPU)'}"]
    problems = []
    if torch.version.cuda and built_with != torch.version.cuda:
        problems.append(f"inplace_abn was compiled with CUDA {built_with or 'none'} but torch {torch.__version__} uses "
                        f"CUDA {torch.version.cuda}: rebuild it with scripts/build_inplace_abn.sh against this torch")
    return found, problems


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


def problems(cfg: DictConfig) -> list[str]:
    """The GPUs and driver of this machine matter when the run starts here; a Slurm run needs a CUDA torch."""
    local = runs_here(cfg)
    found = torch_range_problems()
    if cfg.launch.gpus_per_node > 0 and not local and torch.version.cuda is None:
        found.append(f"torch {torch.__version__} is a CPU build but launch.gpus_per_node={cfg.launch.gpus_per_node}: "
                     f"install a CUDA build of torch in the jobs' environment, or set launch.gpus_per_node=0")
    if local and cfg.train.device == "cuda" and not torch.cuda.is_available():
        reason = ("torch is a CPU build" if torch.version.cuda is None else
                  f"no GPU is usable with torch's CUDA {torch.version.cuda} (NVIDIA driver "
                  f"{driver_version() or 'not found'}; a driver older than the CUDA release cannot run it)")
        found.append(f"train.device=cuda but {reason}: run on a GPU machine with a recent driver, or set "
                     f"train.device=auto")
    if cfg.model.norm == "inplace_abn":
        found += inplace_abn_problems()[1]
    return found


def model_problems(cfg: DictConfig) -> list[str]:
    """The configured model builds (on the meta device: no memory, no weights); an optional package it needs
    (timm for the timm backbones) is named as such."""
    try:
        model_bytes(cfg)
    except MissingDependency as err:
        return [f"missing optional dependency: {err}"]
    return []

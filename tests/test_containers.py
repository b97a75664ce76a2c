"""Container files: one source of truth for versions, linted Dockerfile and shell scripts, a whole Apptainer def
file, and the environment check the images run (`python -m wilss.doctor`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_cli

sys.path.insert(0, str(REPO / "scripts"))
from check_containers import def_file_problems, disagreements  # noqa: E402

PINNED_FILES = ("docker/versions.env", "docker/Dockerfile", "docker/compose.yaml", "singularity/wilss.def",
                "constraints.txt", "pyproject.toml")


def copy_pinned_files(tmp_path: Path) -> Path:
    for name in PINNED_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_every_container_file_agrees_with_versions_env():
    result = subprocess.run([sys.executable, "scripts/check_containers.py"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("name, old, new", [
    ("docker/versions.env", "TORCH_VERSION=2.14.1", "TORCH_VERSION=2.15.0"),
    ("docker/Dockerfile", "ARG CUDA_VERSION=13.0.1", "ARG CUDA_VERSION=12.8.1"),
    ("docker/Dockerfile", 'ARG TORCH_CUDA_ARCH_LIST="7.5;', 'ARG TORCH_CUDA_ARCH_LIST="7.0;'),
    ("singularity/wilss.def", "From: wilss:0.1.0-cu13.0.1", "From: wilss:0.1.0-cu12.8.1"),
    ("docker/compose.yaml", "image: wilss:0.1.0-cu13.0.1", "image: wilss:latest"),
    ("constraints.txt", "torchvision==0.29.1", "torchvision==0.30.0"),
    ("pyproject.toml", "\"torch>=2.14,<3\"", "\"torch>=2.15,<3\""),
])
def test_changing_one_pinned_file_alone_is_reported_with_its_name(tmp_path, name, old, new):
    root = copy_pinned_files(tmp_path)
    assert disagreements(root) == []
    edit(root / name, old, new)
    problems = disagreements(root)
    assert problems and all(":" in problem for problem in problems)
    assert any(name in problem or "versions.env" in problem for problem in problems), problems


@pytest.mark.parametrize("old, new, expected", [
    ("%test\n", "%bogus\n", "unknown section %bogus"),
    ("From: wilss:0.1.0-cu13.0.1\n", "", "From: None"),
    ("Bootstrap: docker-daemon", "Bootstrap: library", "Bootstrap must be"),
    ("%help\n", "%post\n", "missing section %help"),
    ("python -m wilss.doctor --inplace-abn", "true", "%test must run"),
])
def test_def_file_check_catches_what_spython_accepts(tmp_path, old, new, expected):
    path = tmp_path / "wilss.def"
    shutil.copy(REPO / "singularity" / "wilss.def", path)
    assert def_file_problems(path, "wilss:0.1.0-cu13.0.1") == []
    edit(path, old, new)
    assert any(expected in problem for problem in def_file_problems(path, "wilss:0.1.0-cu13.0.1"))


def tool(name: str) -> str:
    """A linter installed by the test extra: next to this Python (the venv may not be on PATH), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or name


def repo_files(*patterns: str) -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    return sorted(set(listed))


def test_hadolint_passes_on_every_dockerfile():
    dockerfiles = repo_files("*Dockerfile*")
    assert "docker/Dockerfile" in dockerfiles
    result = subprocess.run([tool("hadolint"), *dockerfiles], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_passes_on_every_shell_script():
    scripts = repo_files("*.sh", "*.sbatch", ".ci/run")
    # The sbatch scripts live in the package (the repository's slurm/ links to wilss/slurm/).
    assert {"scripts/build_inplace_abn.sh", "scripts/local_slurm.sh", "wilss/slurm/chain_step.sh",
            *(f"wilss/slurm/{name}.sbatch" for name in ("wilss", "voc_15-5", "voc_10-10", "coco_voc", "demo"))
            } <= set(scripts)
    result = subprocess.run([tool("shellcheck"), "-x", "-S", "warning", *scripts], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_doctor_reports_the_inplace_abn_cuda_release_equal_to_torchs():
    pytest.importorskip("inplace_abn", reason="inplace-abn is not built here (make inplace-abn)")
    import torch

    result = run_cli(["wilss.doctor", "--inplace-abn"], cwd=Path("/"), env={"PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"compiled with CUDA {torch.version.cuda or 'none (CPU)'}" in result.stdout


def test_doctor_names_a_cuda_mismatch(tmp_path):
    from wilss.preflight.environment import extension_cuda_release

    library = tmp_path / "_backend.so"
    library.write_bytes(b"\x00ELF...Cuda compilation tools, release 12.8, V12.8.93\x00")
    assert extension_cuda_release(library) == "12.8"
    library.write_bytes(b"\x00ELF without device code\x00")
    assert extension_cuda_release(library) is None

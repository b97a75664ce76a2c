"""Installing the kit as users do: a wheel, outside the source tree, into an environment that already holds torch;
and the rules that keep it installable anywhere (no private APIs of the libraries it builds on)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from test_slurm import slurm_cluster, wait_for_jobs, wait_for_log  # noqa: F401 - slurm_cluster: the local cluster

# Underscore names inside the libraries, and the implementation modules that upgrades have moved before.
PRIVATE_APIS = re.compile(r"\b(?:torch|torchvision|submitit|hydra|omegaconf)(?:\.\w+)*\._[a-z]\w*"
                          r"|\bsubmitit\.(?:slurm\.slurm|local\.local)\b")
# torch offers no public API for oneDNN's pre-packed convolutions; tests/test_prepack.py runs both operators.
ALLOWED = ("torch.ops.mkldnn._reorder_convolution_weight", "torch.ops.mkldnn._convolution_pointwise")


def test_the_package_uses_no_private_api_of_torch_submitit_or_hydra():
    found = []
    for path in sorted((REPO / "wilss").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"{path.relative_to(REPO)}:{number}: {hit.group(0)}" for hit in PRIVATE_APIS.finditer(line)
                      if not hit.group(0).startswith(ALLOWED)]
    assert found == []


@pytest.mark.parametrize("line", ["from torch.nn.modules._functions import SyncBatchNorm",
                                  "from submitit.slurm.slurm import SlurmJobEnvironment",
                                  "from submitit.local.local import LocalJobEnvironment",
                                  "from hydra._internal.utils import get_args_parser"])
def test_the_check_catches_the_private_imports_the_package_had(line):
    assert PRIVATE_APIS.search(line)


def torch_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("torch: ")]


INSTALL_TEST = pytest.mark.skipif(os.environ.get("WILSS_INSTALL_TEST") == "0", reason="WILSS_INSTALL_TEST=0")


@pytest.fixture(scope="module")
def user_install(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """scripts/install_check.sh, once: wheel -> fresh venv outside the tree holding the pinned torch -> install
    with constraints.txt -> pip check -> `wilss chain` from an empty directory. The venv stays for the next test."""
    work = tmp_path_factory.mktemp("install")
    result = subprocess.run(["bash", str(REPO / "scripts" / "install_check.sh"), str(work)],
                            capture_output=True, text=True, timeout=1500)
    return work, result


@INSTALL_TEST
def test_the_wheel_installs_beside_the_pinned_torch_without_replacing_it_and_runs_the_demo(user_install):
    work, result = user_install
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    before, after = torch_lines(result.stdout)
    assert before == after, "installing wilss replaced torch"
    pinned = re.search(r"^torch==(\S+)$", (REPO / "constraints.txt").read_text(), flags=re.M).group(1)
    assert before.split()[1].split("+")[0] == pinned
    assert str(work / "venv") in before  # the fresh venv's torch, not the one running the tests
    assert "No broken requirements found." in result.stdout
    assert (work / "empty" / "outputs" / "synthetic-15-5" / "demo" / "results.md").is_file()


@INSTALL_TEST
def test_gpu_check_in_its_cpu_mode_installs_without_touching_torch_and_trains(user_install, tmp_path):
    work, installed = user_install
    assert installed.returncode == 0, "needs the venv of the install check"
    result = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), "--cpu", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=1500,
                            env=dict(os.environ, PYTHON=str(work / "venv" / "bin" / "python")))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    before, after = torch_lines(result.stdout)
    assert before == after
    assert "all checks passed" in result.stdout  # wilss doctor
    assert re.search(r"^RESULT model.norm=native: [\d.]+ images/s .* peak RSS [\d.]+ GiB", result.stdout, flags=re.M)


@INSTALL_TEST
@pytest.mark.slurm
def test_a_pip_user_writes_the_sbatch_scripts_and_one_runs_the_demo_chain_on_the_cluster(user_install, tmp_path,
                                                                                          slurm_cluster):  # noqa: F811
    """No repository at hand: the installed `wilss scripts` writes the sbatch scripts, and the demo's runs its chain
    as typed (only --output for the logs and overrides that shorten it), with the venv's python."""
    work, installed = user_install
    assert installed.returncode == 0, "needs the venv of the install check"
    venv = work / "venv" / "bin"
    written = subprocess.run([str(venv / "wilss"), "scripts", "my-slurm"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)
    assert written.returncode == 0, written.stderr
    run = tmp_path / "run"
    short = ["dataset.generate.train=48", "dataset.generate.val=12", "dataset.generate.size=64",
             "dataset.crop_size=64", "dataset.crop_size_val=64", "train.batch_size=8", "train.epochs_base=1",
             "train.epochs_incremental=1", f"run_dir={run}"]
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv}:{env['PATH']}")  # the user's activated venv: `python` is its interpreter
    submitted = subprocess.run(["sbatch", "--parsable", f"--output={tmp_path}/slurm-%j.out", "my-slurm/demo.sbatch",
                                *short], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    step0 = submitted.stdout.strip()
    wait_for_log(run / "step1" / "manifest.json", "job_id")
    step1 = json.loads((run / "step1" / "manifest.json").read_text())["job_id"]
    assert wait_for_jobs([step0, step1]) == {step0: "COMPLETED", step1: "COMPLETED"}
    log = (tmp_path / f"slurm-{step1}.out").read_text()
    assert "synthetic 15-5 — mIoU % on val" in log and "Expected results 'demo'" in log, log[-3000:]

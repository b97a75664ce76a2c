"""Installing the kit as users do: a wheel, outside the source tree, into an environment that already holds torch;
and the rules that keep it installable anywhere (no private APIs of the libraries it builds on)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from conftest import REPO

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


@pytest.mark.skipif(os.environ.get("WILSS_INSTALL_TEST") == "0", reason="WILSS_INSTALL_TEST=0")
def test_the_wheel_installs_beside_the_pinned_torch_without_replacing_it_and_runs_the_demo(tmp_path):
    """scripts/install_check.sh, what CI runs: wheel -> fresh venv outside the tree holding the pinned torch ->
    install with constraints.txt -> pip check -> `wilss chain` from an empty directory."""
    result = subprocess.run(["bash", str(REPO / "scripts" / "install_check.sh"), str(tmp_path / "work")],
                            capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    before, after = torch_lines(result.stdout)
    assert before == after, "installing wilss replaced torch"
    pinned = re.search(r"^torch==(\S+)$", (REPO / "constraints.txt").read_text(), flags=re.M).group(1)
    assert before.split()[1].split("+")[0] == pinned
    assert str(tmp_path / "work" / "venv") in before  # the fresh venv's torch, not the one running the tests
    assert "No broken requirements found." in result.stdout
    assert (tmp_path / "work" / "empty" / "outputs" / "synthetic-15-5" / "demo" / "results.md").is_file()

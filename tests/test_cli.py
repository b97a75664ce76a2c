"""Hydra's command-line conventions where the kit's commands meet them: the name a command's help gives itself,
`--version`, and the multirun flag."""

from __future__ import annotations

import re

import pytest

from conftest import REPO, run_cli
from wilss import __version__
from wilss.cli import read_overrides


def test_version_is_the_packages():
    declared = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), flags=re.M).group(1)
    result = run_cli(["wilss", "--version"], cwd=REPO)
    assert result.returncode == 0 and result.stdout.strip() == f"wilss {declared}" == f"wilss {__version__}"


@pytest.mark.parametrize("command", ["chain", "train", "submit", "status", "web"])
def test_a_commands_help_names_it_as_typed(command):
    typed = run_cli(["wilss", command, "--help"], cwd=REPO)
    assert typed.returncode == 0 and typed.stdout.startswith(f"usage: wilss {command} "), typed.stdout[:200]
    assert f"python -m wilss.{command} " not in typed.stdout  # nor elsewhere in its own text
    module = run_cli([f"wilss.{command}", "--help"], cwd=REPO)
    assert module.stdout.startswith(f"usage: python -m wilss.{command} "), module.stdout[:200]


def test_hydras_multirun_flag_is_accepted_where_comma_values_already_sweep():
    assert read_overrides(["-m", "seed=0,1", "--multirun", "method=wilson,ft"], "") == ["seed=0,1",
                                                                                        "method=wilson,ft"]


@pytest.mark.parametrize("command", ["chain", "train", "submit"])
@pytest.mark.parametrize("flag", [["--cfg"], ["--cfg", "job"], ["--cfg", "all"]])
def test_cfg_prints_the_composed_configuration_and_runs_nothing(command, flag, tmp_path):
    result = run_cli(["wilss", command, *flag, "experiment=demo", "name=shown", f"output_root={tmp_path}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^name: shown$", result.stdout, flags=re.M) and "dataset:" in result.stdout
    assert not any(tmp_path.iterdir()), "nothing is trained, queued or written"


def test_cfg_hydra_is_refused_with_what_to_use():
    result = run_cli(["wilss", "chain", "--cfg", "hydra", "experiment=demo"], cwd=REPO)
    assert result.returncode == 2 and "--cfg (or --cfg job) prints the job's" in result.stderr

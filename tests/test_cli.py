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


@pytest.mark.parametrize("command", ["chain", "train", "submit"])
def test_cfg_prints_interpolations_as_written_and_resolve_resolves_them(command, tmp_path):
    shown = [run_cli(["wilss", command, "experiment=demo", f"output_root={tmp_path}", "--cfg", "job", *resolve],
                     cwd=tmp_path) for resolve in ([], ["--resolve"])]
    assert all(result.returncode == 0 for result in shown), shown[0].stderr + shown[1].stderr
    assert re.search(r"^  cache_dir: \$\{output_root\}/cache$", shown[0].stdout, flags=re.M)
    assert re.search(rf"^  cache_dir: {re.escape(str(tmp_path))}/cache$", shown[1].stdout, flags=re.M)


def test_resolve_without_cfg_is_refused_as_hydra_does():
    result = run_cli(["wilss", "chain", "experiment=demo", "--resolve"], cwd=REPO)
    assert result.returncode == 2 and "--resolve only goes with --cfg" in result.stderr


@pytest.mark.parametrize("command", ["chain", "submit"])
@pytest.mark.parametrize("multirun", [["-m"], []])
def test_cfg_of_a_sweep_prints_each_points_configuration_under_its_values_and_runs_nothing(command, multirun,
                                                                                          tmp_path):
    """Hydra 1.3 refuses --cfg with --multirun; the kit's commands sweep comma values anyway, so they print what
    each point would run: a `# key=value` line, then its configuration."""
    result = run_cli(["wilss", command, *multirun, "experiment=demo", "seed=0,1", f"output_root={tmp_path}",
                      "--cfg", "job"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    points = re.split(r"^# (.*)$", result.stdout, flags=re.M)[1:]
    assert points[0::2] == ["seed=0", "seed=1"]
    assert [re.findall(r"^seed: (\d+)$", text, flags=re.M) for text in points[1::2]] == [["0"], ["1"]]
    assert not any(tmp_path.iterdir()), "nothing is trained, queued or written"


@pytest.mark.parametrize("override", ["+train.epochz=3", "train.epochz=3"])
def test_an_unknown_option_stops_the_chain_before_it_runs_with_the_closest_ones(override, tmp_path):
    result = run_cli(["wilss", "chain", "experiment=demo", override, f"output_root={tmp_path}"], cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{override}: train has no option 'epochz'; did you mean train.epochs_base or " \
           "train.epochs_incremental?" in result.stderr
    assert not any(tmp_path.iterdir())


def test_a_sweep_given_to_train_names_the_commands_that_sweep():
    result = run_cli(["wilss", "train", "experiment=demo", "seed=0,1", "--cfg"], cwd=REPO)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "seed=0,1 sweeps, but one configuration takes one value: sweep with wilss chain or wilss submit" \
        in result.stderr

"""The schema behind the configuration (wilss/schema.py): types, enumerations and ranges of options, closed groups,
and what each built-in method needs of its flags; every refusal is one message naming the option, the value, what
it must be and the fix, before anything runs."""

from __future__ import annotations

import pytest

from conftest import REPO, run_cli
from wilss.config import CONFIG_DIR, SEARCH_PATH_ENV, load_config
from wilss.errors import WilssError
from wilss.methods import METHODS
from wilss.schema import METHOD_NEEDS


def refusal(overrides: list[str]) -> str:
    with pytest.raises(WilssError) as raised:
        load_config(overrides)
    return str(raised.value)


@pytest.mark.parametrize("override, wanted", [
    ("train.precision=fp64", "train.precision=fp64 must be one of ['auto', 'fp32', 'bf16', 'fp16']"),
    ("train.loss=dice", "train.loss=dice must be one of ['bce', 'ce']"),
    ("eval.mode=tiles", "eval.mode=tiles must be one of ['parity', 'full']"),
    ("optim.base.policy=cosine", "optim.base.policy=cosine must be one of ['poly', 'constant_then_poly', 'warmup']"),
    ("method.labels=boxes", "method.labels=boxes must be one of ['image', 'pixel']"),
    ("train.compile=1", "train.compile=1 must be true or false"),
    ("train.batch_size=8.5", "train.batch_size=8.5 must be an integer >= 1"),
    ("train.max_iters_per_epoch=0", "train.max_iters_per_epoch=0 must be null or an integer >= 1"),
    ("optim.momentum=1.5", "optim.momentum=1.5 must be a number >= 0 and <= 1"),
    ("seed=abc", "seed='abc' must be an integer >= 0"),
])
def test_a_value_the_schema_refuses_names_option_value_and_what_it_must_be(override, wanted):
    message = refusal([override])
    assert wanted in message and message.endswith("Fix the override (key=value) or the config file.")


def test_a_value_of_a_config_file_is_checked_as_one_from_the_command_line(monkeypatch, tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "huge.yaml").write_text("defaults:\n  - default\n  - _self_\nbatch_size: 0\n")
    (tmp_path / "train" / "typo.yaml").write_text("defaults:\n  - default\n  - _self_\nprecision: fp64\n")
    monkeypatch.setenv(SEARCH_PATH_ENV, str(tmp_path))
    assert "train.batch_size=0 must be an integer >= 1" in refusal(["train=huge"])
    typo = refusal(["train=typo"])
    assert typo == ("invalid option train.precision (In 'train/typo'): Invalid value 'fp64', expected one of [auto, "
                    "fp32, bf16, fp16]. Fix the override (key=value) or the config file.")


@pytest.mark.parametrize("override", ["train.epochz=3", "+train.epochz=3"])
def test_an_option_the_schema_lacks_is_refused_with_the_closest_ones(override):
    message = refusal(["experiment=demo", override])
    assert f"{override}: train has no option 'epochz'; did you mean train.epochs_base or train.epochs_incremental?" \
        in message


def test_plus_still_adds_where_a_group_is_open_and_chooses_groups_of_a_searched_folder(tmp_path):
    (tmp_path / "preset").mkdir()
    (tmp_path / "preset" / "big.yaml").write_text("# @package _global_\ntrain:\n  batch_size: 48\n")
    cfg = load_config([f"hydra.searchpath=[file://{tmp_path}]", "+preset=big", "+dataset.extra=1",
                       "+model.options.depth=2", "+launch.additional.exclude=gpu01"])
    assert (cfg.train.batch_size, cfg.dataset.extra, cfg.model.options.depth) == (48, 1, 2)


@pytest.mark.parametrize("overrides, fragments", [
    (["method=joint", "method.labels=image"],
     ["method.labels=image does not fit method joint, which needs labels=pixel (it trains on pixel masks)",
      "Drop the override", "wilson, ft"]),
    (["method=wilson", "method.labels=pixel"], ["method.labels=pixel does not fit method wilson", "supervised, joint"]),
    (["method=ft", "method.recipe=base"],
     ["method.recipe=base does not fit method ft, which needs recipe=incremental"]),
    (["method=wilson", "method.init=pretrained"], ["method.init=pretrained does not fit method wilson"]),
])
def test_a_method_and_its_flags_cannot_disagree(overrides, fragments):
    message = refusal(["experiment=demo", "step=1", *overrides])
    assert all(fragment in message for fragment in fragments), message


def test_every_built_in_method_declares_what_it_needs():
    """One declaration per registered name: wilss/schema.py (torch-free) beside the builders of wilss/methods/."""
    built_in = {name for name in METHODS.names() if METHODS.get(name).__module__.startswith("wilss.methods.")}
    assert built_in == set(METHOD_NEEDS)


@pytest.mark.parametrize("group, option", sorted(
    (path.parent.name, path.stem) for path in CONFIG_DIR.glob("*/*.yaml") if path.parent.name != "task"))
def test_every_shipped_config_fits_the_schema_with_plain_values(group, option):
    cfg = load_config([f"{group}={option}"] + (["step=1"] if group == "method" else []))
    assert type(cfg.train.precision) is str and type(cfg.method.labels) is str  # names, as the files write them


def test_a_chain_with_a_method_that_contradicts_its_flags_fails_before_running(tmp_path):
    result = run_cli(["wilss", "chain", "experiment=demo", "method=joint", "method.labels=image",
                      f"output_root={tmp_path}"], cwd=REPO)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "method.labels=image does not fit method joint" in result.stderr
    assert not any(tmp_path.iterdir())

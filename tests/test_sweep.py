"""Sweeps: Hydra sweep values into points with a shared step 0, their job arrays, and a sweep run here.

The Slurm side (arrays with aftercorr on the real cluster, resubmission, a failing point) is in test_slurm.py.
"""

from __future__ import annotations

import re

import pytest

from conftest import REPO, run_cli
from wilss.errors import WilssError
from wilss.launch.sweep import Array, Unit, build_units, dependency_option, plan_units, submit_arrays
from wilss.sweep import expand, prepare

TINY_CHAIN = ["dataset=synthetic", "dataset.generate.train=40", "dataset.generate.val=8", "dataset.generate.size=64",
              "dataset.crop_size=64", "dataset.crop_size_val=64", "model=resnet18", "train.num_workers=0",
              "train.device=cpu", "train.log_interval=2", "eval.batch_size=4", "train.batch_size=8",
              "train.epochs_base=1", "train.epochs_incremental=1", "method.pseudo_ep=0"]


def test_sweep_values_expand_by_hydra_grammar_and_only_step0_settings_split_step0(tmp_path):
    sweep = expand(["experiment=demo", "method=wilson,ft", "seed=range(0,2)", "replay.num=2,4", "overlap=true",
                    f"sweep_dir={tmp_path}"])
    assert len(sweep.points) == 8 and sweep.directory == tmp_path
    assert "method-ft_seed-1_replay.num-4" in {point.name for point in sweep.points}
    assert {point.length for point in sweep.points} == {2}
    # method and replay are read only by later steps: the seed decides step 0
    assert len(sweep.groups()) == 2 and all(len(members) == 4 for members in sweep.groups().values())
    assert all("overlap=true" in point.overrides for point in sweep.points)


@pytest.mark.parametrize("overrides, message", [
    (["seed=0,1", "run_dir=/tmp/x"], "every point gets its own run directory"),
    (["seed=0,1", "step=1"], "each point is a whole chain"),
    (["seed=interval(0,1)"], "an interval has no list of values"),
    (["seed=0,1", "task=15-7"], "15-7"),
])
def test_a_sweep_that_cannot_run_fails_before_anything_is_queued(overrides, message, tmp_path):
    with pytest.raises(WilssError, match=message):
        expand(["experiment=demo", f"sweep_dir={tmp_path}", *overrides])


def test_a_sweep_directory_gains_points_but_a_point_keeps_what_it_computes(tmp_path):
    prepare(expand(["experiment=demo", "seed=0,1", f"sweep_dir={tmp_path}"]))
    prepare(expand(["experiment=demo", "seed=0,1,2", f"sweep_dir={tmp_path}", "launch.partition=gpu"]))  # more seeds
    prepare(expand(["experiment=demo", "seed=0,1", "replay.enabled=true,false", f"sweep_dir={tmp_path}"]))
    assert len(list((tmp_path / "points").iterdir())) == 3 + 4
    with pytest.raises(WilssError, match="point 'seed-0' .* was submitted with other overrides"):
        prepare(expand(["experiment=demo", "seed=0,1", "train.epochs_base=2", f"sweep_dir={tmp_path}"]))


def test_arrays_align_task_i_after_task_i_with_lanes_for_a_shared_step0_and_one_array_per_chain_length(tmp_path):
    """15-5 (2 steps) and 10-2 (6 steps), two methods sharing step 0, two seeds: step 0 is one array per chain
    length; every later array waits with aftercorr on an array whose task i is the same point's step before."""
    sweep = expand(["experiment=demo", "task=15-5,10-2", "method=wilson,ft", "seed=0,1", f"sweep_dir={tmp_path}"])
    prepare(sweep)
    units = build_units(sweep)
    plan_units(units, "local", resubmit_failed=False)
    counter = iter(range(100, 200))

    def queue(members, dependency):  # what sbatch --array would number
        array = next(counter)
        return [f"{array}_{i}" for i in range(len(members))] if len(members) > 1 else [str(array)]

    arrays = submit_arrays(units, queue)
    assert [(a.step, a.size) for a in arrays if a.step == 0] == [(0, 2), (0, 2)]
    assert len([a for a in arrays if a.step == 1]) == 4 and len([a for a in arrays if a.step == 5]) == 2
    assert all(a.dependency.startswith("aftercorr:") for a in arrays if a.step > 0)
    for unit in units:
        if unit.before is not None:  # task i after task i of the array of the step before, same point or step 0
            assert unit.array.dependency == f"aftercorr:{unit.before.array.job_id}"
            assert unit.index == unit.before.index
            assert unit.step == 1 or unit.before.label.split("/")[0] == unit.label.split("/")[0]
    assert sum(unit.step == 0 for unit in units) == 4  # one step 0 per task and seed, for both methods


def test_a_single_task_waits_with_afterok_on_the_task_it_needs(tmp_path):
    before = Unit("shared/step0-a", 0, [], 2, tmp_path, array=Array("7", 3, 0, None))
    one, two = (Unit(f"p{i}/step1", 1, [], 2, tmp_path, before) for i in range(2))
    assert dependency_option([one], ("aftercorr", id(before.array), 0)) == "afterok:7_0"
    assert dependency_option([one, two], ("aftercorr", id(before.array), 0)) == "aftercorr:7"
    assert dependency_option([one], ("afterok", "5_2")) == "afterok:5_2"
    before.array = Array("8", 1, 0, None)  # submitit queues a single task as a plain job
    assert dependency_option([one], ("aftercorr", id(before.array), 0)) == "afterok:8"


def test_chain_sweep_of_two_methods_trains_step0_once_and_writes_the_report(tmp_path):
    """The command a user types on a workstation: `wilss chain ... method=wilson,ft`."""
    sweep_dir = tmp_path / "sweep"
    result = run_cli(["wilss", "chain", *TINY_CHAIN, f"output_root={tmp_path}", f"sweep_dir={sweep_dir}",
                      "method=wilson,ft"], cwd=REPO, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    shared = list((sweep_dir / "shared").glob("step0-*/step0"))
    assert len(shared) == 1
    assert (shared[0] / "train.log").read_text().count("iterations per epoch") == 1  # trained once, then reused
    for method in ("wilson", "ft"):
        point = sweep_dir / "points" / f"method-{method}"
        assert (point / "step0").resolve() == shared[0].resolve()
        assert (point / "step1" / "results.json").is_file() and (point / "results.md").is_file()
    report = (sweep_dir / "report" / "report.md").read_text()
    assert re.search(r"\| wilson \| [\d.]+ \| [\d.]+ \| [\d.]+ \|", report), report

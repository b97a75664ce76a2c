"""A chain is resolved once into typed step specs (wilss/spec.py): what each step trains, from what, with which
recipe and files, derived in one place from the composed config."""

from __future__ import annotations

from pathlib import Path

from wilss.config import load_config
from wilss.model_spec import ModelSpec
from wilss.models import build_model
from wilss.spec import resolve


def test_a_wilson_chain_resolves_each_step_with_its_task_recipe_epochs_files_and_previous_step(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    chain = resolve(load_config(["task=15-1", "step=2", "train.epochs_base=3",
                                 "train.epochs_incremental=5"]))
    assert len(chain.steps) == 6 and chain.current is chain.step(2)
    assert chain.layout.root.is_absolute() and chain.layout.root == tmp_path / "outputs" / "voc-15-1" / "wilson"
    base, weak = chain.step(0), chain.step(2)
    assert (base.epochs, base.optim.lr, base.recipe.method, base.localizer_epochs) == (3, 0.01, "supervised", 0)
    assert (weak.epochs, weak.optim.lr, weak.recipe.weak, weak.localizer_epochs) == (5, 0.001, True, 5)
    assert weak.task.new_classes == (17,) and weak.training_task is weak.task
    assert weak.previous_final == chain.layout.step(1).final and weak.files == chain.layout.step(2)
    # Step 0 reads ImageNet weights; a step that starts from step t-1 names none, and knows t-1's model.
    assert base.model.pretrained is not None and weak.model.pretrained is None
    assert weak.model.classes_per_step == (16, 1, 1) and weak.previous_model.classes_per_step == (16, 1)
    assert base.previous_model is None and base.previous_final is None


def test_the_joint_baseline_trains_every_seen_class_with_the_base_recipe_from_the_pretrained_weights(tmp_path):
    step = resolve(load_config(["task=15-5", "step=1", "method=joint", f"output_root={tmp_path}"])).current
    assert step.training_task.step == 0 and step.training_task.order == step.task.order
    assert step.recipe.base_recipe and not step.recipe.from_previous and step.localizer_epochs == 0
    assert step.previous_final is None and step.model.pretrained is not None


def test_step_ckpt_names_the_previous_weights_of_the_configured_step_only(tmp_path):
    chain = resolve(load_config(["task=15-1", "step=2", f"step_ckpt={tmp_path / 'mine.pt'}", f"run_dir={tmp_path}"]))
    assert chain.current.previous_final == tmp_path / "mine.pt"
    assert chain.step(3).previous_final == tmp_path / "step2" / "checkpoints" / "final.pt"


def test_a_relative_run_dir_resolves_to_the_same_absolute_folder_from_its_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve(load_config(["run_dir=runs/a"])).layout.root == tmp_path / "runs" / "a"


def test_the_model_spec_round_trips_and_builds_the_model_it_describes(tmp_path):
    spec = resolve(load_config(["dataset=synthetic", "model=resnet18", "step=1", f"run_dir={tmp_path}"])).current.model
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    model = build_model(**spec.to_dict())
    assert [layer.out_channels for layer in model.cls] == list(spec.classes_per_step)


def test_resolving_a_chain_loads_no_torch():
    """Launchers resolve chains on login nodes."""
    import subprocess
    import sys

    probe = ("import sys\nfrom wilss.config import load_config\nfrom wilss.spec import resolve\n"
             "resolve(load_config(['task=10-10']))\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"

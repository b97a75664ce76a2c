"""Bad input ends with one clear paragraph naming the file or option and the fix, exit status 2, no traceback."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, run_cli, write_voc
from wilss.checkpoint import save_checkpoint, task_meta
from wilss.data.tasks import get_task


def train_cli(tmp_path, *overrides):
    args = ["wilss.train", "model=resnet18", "train.device=cpu", "train.num_workers=0",
            f"output_root={tmp_path / 'out'}", f"dataset.cache_dir={tmp_path / 'cache'}", *overrides]
    return run_cli(args, cwd=REPO, timeout=300)


def assert_user_error(result, *fragments):
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("wilss: error:")
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture
def voc(tmp_path):
    return write_voc(tmp_path / "voc", {"a": [1], "b": [2, 3], "c": [16]}, {"v": [1, 16]})


def test_missing_dataset_root(tmp_path):
    assert_user_error(train_cli(tmp_path, f"dataset.root={tmp_path / 'nowhere'}"), "nowhere", "dataset.root")


def test_missing_split_list(tmp_path, voc):
    (voc / "splits" / "train_aug.txt").unlink()
    assert_user_error(train_cli(tmp_path, f"dataset.root={voc}"), "train_aug.txt", "missing")


def test_missing_image(tmp_path, voc):
    (voc / "JPEGImages" / "b.jpg").unlink()
    assert_user_error(train_cli(tmp_path, f"dataset.root={voc}"), "b.jpg", "is missing")


def test_missing_mask(tmp_path, voc):
    (voc / "SegmentationClassAug" / "a.png").unlink()
    assert_user_error(train_cli(tmp_path, f"dataset.root={voc}"), "a.png", "is missing")


def test_mask_ids_outside_the_legal_range(tmp_path, voc):
    Image.fromarray(np.full((16, 16), 42, dtype=np.uint8), mode="L").save(voc / "SegmentationClassAug" / "b.png")
    assert_user_error(train_cli(tmp_path, f"dataset.root={voc}"), "b.png", "[42]", "255")


def test_image_and_mask_sizes_differ(tmp_path, voc):
    Image.new("RGB", (20, 16)).save(voc / "JPEGImages" / "a.jpg")
    assert_user_error(train_cli(tmp_path, f"dataset.root={voc}"), "a.jpg", "20x16", "16x16")


def test_unknown_task_and_dataset(tmp_path):
    assert_user_error(train_cli(tmp_path, "task=15-6"), "task/15-6", "15-5")
    assert_user_error(train_cli(tmp_path, "dataset=cityscapes"), "dataset/cityscapes")


def test_unknown_initialisation(tmp_path):
    assert_user_error(train_cli(tmp_path, "model.init=he"), "model.init=he", "torch_default")


def test_overlap_with_coco_voc(tmp_path):
    assert_user_error(train_cli(tmp_path, "dataset=coco-voc", "overlap=true"), "overlap=true", "coco-voc")


def test_checkpoint_of_another_task_in_the_run_dir(tmp_path, voc):
    run_dir = tmp_path / "run"
    save_checkpoint(run_dir / "step0" / "checkpoints" / "last.pt", {}, task_meta(get_task("voc", "10-10", 0)))
    result = train_cli(tmp_path, f"dataset.root={voc}", f"run_dir={run_dir}", "train.batch_size=2")
    assert_user_error(result, "last.pt", "task: checkpoint has '10-10', run expects '15-5'")


def test_unknown_override_key(tmp_path):
    assert_user_error(train_cli(tmp_path, "train.epochz=3"), "epochz")


@pytest.mark.parametrize("overrides, fragments", [
    (["cluster=local", "launch.nodes=2"], ["launch.nodes=2", "launch.tasks_per_node"]),
    (["cluster=local", "launch.tasks_per_node=5"], ["train.batch_size=24", "launch.tasks_per_node=5"]),
    (["cluster=moon"], ["cluster=moon", "slurm, local or auto"]),
])
def test_submit_refuses_resources_that_would_fail_after_the_queue(tmp_path, overrides, fragments):
    result = run_cli(["wilss.submit", f"output_root={tmp_path}", *overrides], cwd=REPO, timeout=120)
    assert_user_error(result, *fragments)
    assert not any(tmp_path.iterdir()), "nothing may be submitted or written"


def test_status_of_a_folder_without_steps_says_what_to_pass(tmp_path):
    assert_user_error(run_cli(["wilss.status", str(tmp_path)], cwd=REPO), str(tmp_path), "run directory")

"""Bad input ends with one clear paragraph naming the file or option and the fix, exit status 2, no traceback."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from conftest import REPO, run_cli, write_voc
from wilss.checkpoint import run_meta, save_checkpoint, task_meta
from wilss.data.dataset import SegmentationDataset
from wilss.data.tasks import get_task
from wilss.data.transforms import eval_transform
from wilss.data.validate import open_pair
from wilss.errors import WilssError, user_message
from wilss.models import build_model


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


# --- every boundary: docs/data.md lists these categories; each test runs the command a user types ---------------

def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def assert_refused_before_writing(result, tmp_path, *fragments, run_dir=None, kept=()):
    """Exit 2 with the message, and the run directory holds nothing but what the test put there."""
    assert_user_error(result, *fragments)
    assert not (tmp_path / "out" / "voc-15-5").exists(), files_under(tmp_path / "out")
    if run_dir is not None:
        assert files_under(run_dir) == sorted(kept), files_under(run_dir)


def test_option_values_are_typed_and_range_checked_all_at_once(tmp_path):
    result = train_cli(tmp_path, "dataset.crop_size=0", "optim.base.lr=-1", "overlap=yes")
    assert_refused_before_writing(result, tmp_path, "dataset.crop_size=0 must be an integer >= 1",
                                  "optim.base.lr=-1 must be a number > 0", "overlap='yes' must be true or false",
                                  "Fix the override")


@pytest.mark.parametrize("override, fragments", [
    ("task=15_5", ["task=15_5", "reads as a number", "'15-5'"]),
    ("task.name=155", ["task.name=155 must be a name"]),
])
def test_task_names_are_text(tmp_path, override, fragments):
    assert_refused_before_writing(train_cli(tmp_path, override), tmp_path, *fragments)


def test_data_root_that_is_a_file_is_reported_as_a_file(tmp_path):
    archive = tmp_path / "voc.tar"
    archive.write_bytes(b"\0" * 512)
    assert_refused_before_writing(train_cli(tmp_path, f"dataset.root={archive}"), tmp_path,
                                  "voc.tar' is a file, not a folder", "dataset.root", "wilss data prepare")


def test_binary_split_list_is_refused(tmp_path, voc):
    (voc / "splits" / "train_aug.txt").write_bytes(bytes(range(256)) * 4)
    assert_refused_before_writing(train_cli(tmp_path, f"dataset.root={voc}"), tmp_path,
                                  "train_aug.txt' is not a text file", "wilss data prepare")


@pytest.mark.parametrize("escape", ["dotdot", "symlink"])
def test_split_list_paths_are_confined_to_the_root(tmp_path, voc, escape):
    """A leading '/' reads from the root (the lists' convention), so only `..` or a link can leave it."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    Image.new("RGB", (16, 16)).save(outside / "x.jpg")
    image = {"dotdot": "/../elsewhere/x.jpg", "symlink": "/JPEGImages/link.jpg"}[escape]
    if escape == "symlink":
        (voc / "JPEGImages" / "link.jpg").symlink_to(outside / "x.jpg")
    with open(voc / "splits" / "train_aug.txt", "a") as handle:
        handle.write(f"{image} /SegmentationClassAug/a.png\n")
    assert_refused_before_writing(train_cli(tmp_path, f"dataset.root={voc}"), tmp_path,
                                  "train_aug.txt:4:", "points outside the dataset root", "fix the line")


def test_malformed_list_line_names_file_and_line(tmp_path, voc):
    with open(voc / "splits" / "val.txt", "a") as handle:
        handle.write("/JPEGImages/v.jpg /SegmentationClassAug/v.png extra\n")
    assert_refused_before_writing(train_cli(tmp_path, f"dataset.root={voc}"), tmp_path, "val.txt:2:",
                                  "expected an image id or two paths")


def test_image_that_is_a_symlink_loop_names_the_line(tmp_path, voc):
    image = voc / "JPEGImages" / "b.jpg"
    image.unlink()
    image.symlink_to(image)
    assert_refused_before_writing(train_cli(tmp_path, f"dataset.root={voc}"), tmp_path, "train_aug.txt:2:",
                                  "b.jpg' is a symbolic link that leads back to itself", "symlink loop",
                                  "Replace the link with the file itself")


def test_split_list_that_is_a_folder_is_called_a_folder(tmp_path, voc):
    (voc / "splits" / "train_aug.txt").unlink()
    (voc / "splits" / "train_aug.txt").mkdir()
    result = train_cli(tmp_path, f"dataset.root={voc}")
    assert_refused_before_writing(result, tmp_path, "train_aug.txt' is a folder, not a text file",
                                  "Move the folder away")
    assert "missing" not in result.stderr


def test_id_with_a_space_names_the_line(tmp_path, voc):
    (voc / "splits" / "train_aug.txt").write_text("a\n2007 000003\n")
    assert_refused_before_writing(train_cli(tmp_path, f"dataset.root={voc}"), tmp_path, "train_aug.txt:2:",
                                  "'2007 000003' has a space inside an image id", "ids contain no spaces",
                                  "Fix the line (e.g. '2007_000003')")


def test_absolute_path_in_an_id_list_names_the_line(tmp_path, voc):
    (voc / "splits" / "train_aug.txt").write_text(f"a\n{voc / 'JPEGImages' / 'b.jpg'}\n")
    assert_refused_before_writing(train_cli(tmp_path, f"dataset.root={voc}"), tmp_path, "train_aug.txt:2:",
                                  "b.jpg' is an absolute path", "Write the id alone (e.g. 'b')")


def test_lists_as_real_datasets_write_them_are_accepted(tmp_path, voc):
    """BOM, CRLF, stray whitespace, VOC's own id lists, and a repeated line (dropped with a warning)."""
    (voc / "splits" / "train_aug.txt").write_bytes(
        "\ufeff/JPEGImages/a.jpg /SegmentationClassAug/a.png\r\n  b  \r\n\r\n\tc\t\r\nb\r\n".encode())
    result = run_cli(["wilss", "data", "check", str(voc), f"dataset.cache_dir={tmp_path / 'cache'}"], cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "ok: 3 samples of" in result.stdout and "train_aug.txt" in result.stdout
    assert "train_aug.txt:5 repeats line 2" in result.stderr


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def test_truncated_jpeg_is_named_before_training(tmp_path, voc):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        voc / "JPEGImages" / "b.jpg", quality=95)
    Image.new("L", (64, 64)).save(voc / "SegmentationClassAug" / "b.png")
    truncate(voc / "JPEGImages" / "b.jpg")
    assert_refused_before_writing(train_cli(tmp_path, f"dataset.root={voc}"), tmp_path,
                                  "image '", "b.jpg' cannot be decoded", "Replace it")


def test_colour_mask_is_refused_with_its_mode(tmp_path, voc):
    Image.new("RGB", (16, 16), (128, 0, 0)).save(voc / "SegmentationClassAug" / "a.png")
    assert_refused_before_writing(train_cli(tmp_path, f"dataset.root={voc}"), tmp_path,
                                  "a.png' has mode RGB", "Convert colour-coded masks to ids")


def test_data_check_reports_every_problem_at_once(tmp_path, voc):
    truncate(voc / "JPEGImages" / "a.jpg")
    (voc / "SegmentationClassAug" / "c.png").unlink()
    Image.new("RGB", (16, 16)).save(voc / "SegmentationClassAug" / "v.png")
    result = run_cli(["wilss", "data", "check", str(voc), f"dataset.cache_dir={tmp_path / 'cache'}"], cwd=REPO)
    assert_user_error(result, "2 of 3 samples listed in", "a.jpg' cannot be decoded", "c.png' is missing",
                      "1 of 1 samples listed in", "v.png' has mode RGB", "run `wilss data check` again")


def test_submit_refuses_bad_data_before_queueing(tmp_path, voc):
    (voc / "SegmentationClassAug" / "c.png").unlink()
    result = run_cli(["wilss.submit", "cluster=local", "model=resnet18", f"dataset.root={voc}",
                      f"output_root={tmp_path / 'out'}", f"dataset.cache_dir={tmp_path / 'cache'}"], cwd=REPO)
    assert_refused_before_writing(result, tmp_path, "c.png' is missing")


# --- checkpoints -------------------------------------------------------------------------------------------

RESNET18 = {"backbone": "resnet18", "output_stride": 16}


def write_checkpoint(path, step=0, resume=False, weight=1.0, overlap=False, model=RESNET18):
    state = {"modules": {"model": {"conv.weight": torch.full((2, 2), weight)}}}
    if resume:
        state |= {"optimizer": {}, "schedule": {}, "scaler": {}, "progress": {}, "rng": []}
    save_checkpoint(path, state, run_meta(get_task("voc", "15-5", step), overlap, model))
    return path


def step1_cli(tmp_path, voc, step_ckpt):
    return train_cli(tmp_path, f"dataset.root={voc}", "step=1", f"step_ckpt={step_ckpt}", f"run_dir={tmp_path / 'run'}")


@pytest.mark.parametrize("kind, fragments", [
    ("nan", ["holds NaN or infinite values (in modules.model.conv.weight)", "Retrain that step"]),
    ("overlap", ["overlap: checkpoint has True, run expects False", "step_ckpt="]),
    ("model", ["model: checkpoint has {'backbone': 'resnet50'", "step_ckpt="]),
    ("junk", ["cannot be read", "Use another file (option step_ckpt)"]),
])
def test_previous_step_checkpoint_must_fit_the_run(tmp_path, voc, kind, fragments):
    path = tmp_path / "given" / "final.pt"
    if kind == "junk":
        path.parent.mkdir()
        path.write_bytes(b"\x89PNG not a checkpoint")
    else:
        write_checkpoint(path, weight=float("nan") if kind == "nan" else 1.0, overlap=kind == "overlap",
                         model={"backbone": "resnet50", "output_stride": 16} if kind == "model" else RESNET18)
    result = step1_cli(tmp_path, voc, path)
    assert_refused_before_writing(result, tmp_path, str(path), *fragments, run_dir=tmp_path / "run")


@pytest.mark.parametrize("kind, fragments", [
    ("final as last", ["holds final weights only", "move it to", "final.pt' to evaluate it"]),
    ("nan resume", ["holds NaN or infinite values (in optimizer.momentum)"]),
    ("folder", ["is a folder where a checkpoint file should be", "move the folder away"]),
])
def test_resume_state_must_be_a_finite_resume_checkpoint(tmp_path, voc, kind, fragments):
    last = tmp_path / "run" / "step0" / "checkpoints" / "last.pt"
    if kind == "folder":
        last.mkdir(parents=True)
    elif kind == "final as last":
        write_checkpoint(last)
    else:
        write_checkpoint(last, resume=True)
        state = torch.load(last, weights_only=True)
        state["optimizer"] = {"momentum": torch.tensor([float("inf")])}
        torch.save(state, last)
    kept = files_under(tmp_path / "run")
    result = train_cli(tmp_path, f"dataset.root={voc}", f"run_dir={tmp_path / 'run'}")
    assert_refused_before_writing(result, tmp_path, "last.pt", *fragments, run_dir=tmp_path / "run", kept=kept)


def test_empty_resume_checkpoint_is_called_empty(tmp_path, voc):
    last = tmp_path / "run" / "step0" / "checkpoints" / "last.pt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"")
    result = train_cli(tmp_path, f"dataset.root={voc}", f"run_dir={tmp_path / 'run'}")
    assert_refused_before_writing(result, tmp_path, str(last), "is empty (0 bytes)", "interrupted",
                                  "Copy it again", "delete it to train that step from the start",
                                  run_dir=tmp_path / "run", kept=files_under(tmp_path / "run"))


def test_resume_checkpoint_of_another_shape_names_the_key_and_both_shapes(tmp_path, voc):
    """A last.pt that belongs to the run by its metadata but holds weights of another shape (here a classifier
    of all 21 VOC classes where step 0 of 15-5 has 16)."""
    last = tmp_path / "run" / "step0" / "checkpoints" / "last.pt"
    state = {"modules": {"model": build_model("resnet18", [21]).state_dict()},
             "optimizer": {}, "schedule": {}, "scaler": {}, "progress": {}, "rng": []}
    save_checkpoint(last, state, run_meta(get_task("voc", "15-5", 0), False, RESNET18))
    saved = last.read_bytes()
    result = train_cli(tmp_path, f"dataset.root={voc}", f"run_dir={tmp_path / 'run'}", "train.batch_size=2")
    assert_user_error(result, f"checkpoint '{last}' does not fit the model of this run",
                      "'model.cls.0.weight' has shape (21, 256, 1, 1) in the checkpoint but (16, 256, 1, 1) in "
                      "the model",
                      "run_dir=...", f"delete '{last}' to train the step from the start")
    assert last.read_bytes() == saved and not last.with_name("final.pt").exists()


def exif_rotated(image: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6   # Orientation: the stored pixels must be turned 90° clockwise to be upright
    return exif.tobytes()


def test_files_as_real_datasets_contain_them_are_accepted(tmp_path, voc):
    """Grayscale and CMYK JPEGs, a palette mask, and an image stored sideways with an EXIF orientation tag whose
    mask has none (as a phone photo annotated on its stored pixels, or VOC's masks): `wilss data check` passes,
    and image and mask are read as stored, so they still cover each other pixel for pixel."""
    Image.new("L", (16, 16), 90).save(voc / "JPEGImages" / "a.jpg")
    Image.new("CMYK", (16, 16), (0, 80, 80, 0)).save(voc / "JPEGImages" / "b.jpg")
    palette = Image.open(voc / "SegmentationClassAug" / "c.png").convert("P")
    palette.save(voc / "SegmentationClassAug" / "c.png")
    raw_mask = np.zeros((16, 24), dtype=np.uint8)
    raw_mask[:, :6] = 1
    raw_image = Image.fromarray(np.where(raw_mask[..., None] == 1, 255, 0).repeat(3, axis=2).astype(np.uint8))
    raw_image.save(voc / "JPEGImages" / "v.jpg", exif=exif_rotated(raw_image), quality=95)
    Image.fromarray(raw_mask).save(voc / "SegmentationClassAug" / "v.png")

    result = run_cli(["wilss", "data", "check", str(voc), f"dataset.cache_dir={tmp_path / 'cache'}"], cwd=REPO)
    assert result.returncode == 0, result.stderr
    image, mask = open_pair(voc / "JPEGImages" / "v.jpg", voc / "SegmentationClassAug" / "v.png")
    assert image.size == (24, 16) and mask.shape == (16, 24)
    assert np.array_equal(np.asarray(image.convert("L")) > 128, mask == 1)


def test_a_mask_drawn_on_the_exif_turned_image_is_refused_with_the_reason(tmp_path):
    """A mask that fits the image only once its EXIF tag is applied is named, with why and how to fix it."""
    image_path, mask_path = tmp_path / "v.jpg", tmp_path / "v.png"
    stored = Image.new("RGB", (24, 16))
    stored.save(image_path, exif=exif_rotated(stored))
    Image.new("L", (16, 24)).save(mask_path)
    with pytest.raises(WilssError) as raised:
        open_pair(image_path, mask_path)
    message = user_message(raised.value)
    assert str(image_path) in message and "EXIF orientation" in message and "as stored" in message


def test_a_file_damaged_during_a_run_is_named_by_the_data_loader(tmp_path, voc):
    """The check ran before training; a file that breaks afterwards is named when a loader worker reads it,
    and the worker's traceback is not what the user sees."""
    truncate(voc / "JPEGImages" / "a.jpg", keep=0.3)
    dataset = SegmentationDataset([voc / "JPEGImages" / "a.jpg"], [voc / "SegmentationClassAug" / "a.png"],
                                  np.arange(256, dtype=np.uint8), np.zeros((1, 20), np.float32),
                                  eval_transform(16, "full"), name="val")
    loader = DataLoader(dataset, sampler=[(0, 0)], num_workers=1)
    with pytest.raises(WilssError) as raised:
        next(iter(loader))
    message = user_message(raised.value)
    assert message.startswith(f"image '{voc / 'JPEGImages' / 'a.jpg'}' cannot be decoded") and "Traceback" not in message

"""Web-WILSS data in the weak steps: the replay set (released layout, crop-aware labels, clear errors), 50/50
batches that resume exactly without changing the epoch length, and web images as the new-class data."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from conftest import REPO, run_cli
from test_train_e2e import TINY, train
from wilss.config import load_config
from wilss.spec import resolve
from wilss.data.build import build_train_dataset, build_training_stream
from wilss.data.replay import ReplayDataset, build_replay_dataset, read_replay_pairs
from wilss.data.sampler import MixedShardSampler
from wilss.data.tasks import get_task
from wilss.data.transforms import IMAGENET_MEAN, IMAGENET_STD, train_transform
from wilss.data.web import build_web_dataset
from wilss.errors import WilssError

TASK = get_task("synthetic", "15-5", 1)  # 21 channels at step 1; step 0 has channels 0..15
STEP1 = ["step=1", "train.epochs_incremental=2", "method.pseudo_ep=1", "train.max_iters_per_epoch=2",
         "train.precision=fp32", "train.channels_last=false", "train.val_interval=5", "dataset.crop_size=32"]


def step_task(cfg):
    return resolve(cfg).current.task


def label_map(classes: list[int], size: int = 32) -> np.ndarray:
    """One horizontal band per class on background, so every class covers whole rows."""
    label = np.zeros((size, size), dtype=np.uint8)
    band = size // (len(classes) + 1)
    for k, class_id in enumerate(classes):
        label[(k + 1) * band: (k + 2) * band] = class_id
    return label


def write_replay(root: Path, sources: dict[str, list[list[int]]], absolute_elsewhere: bool = False) -> Path:
    """The released layout. Lines are written in reverse order (unsorted); with `absolute_elsewhere` they hold
    another machine's absolute paths, as the published replay data do."""
    for source, images in sources.items():
        folder = root / source
        (folder / "image").mkdir(parents=True)
        (folder / "label").mkdir()
        lines = []
        for number, classes in enumerate(images):
            label = label_map(classes)
            wide = label.astype(np.int64)
            rgb = np.stack([wide * 13 % 256, wide * 7 % 256, 255 - wide], axis=-1).astype(np.uint8)
            image, mask = folder / "image" / f"web{number}.jpg", folder / "label" / f"web{number}.png"
            Image.fromarray(rgb).save(image, quality=95)
            Image.fromarray(label, mode="L").save(mask)
            if absolute_elsewhere:
                image, mask = Path("/elsewhere/replay") / source / image.name, Path("/elsewhere") / mask.name
            lines.append(f"{image} {mask}")
        (folder / "train_fullPath.txt").write_text("\n".join(reversed(lines)) + "\n")
    return root


REPLAY_SOURCES = {"2008_000002": [[3, 9], [12], [1, 15]], "2007_000001": [[5], [2, 7], [11]],
                  "2009_000003": [[14], [6, 10], [4]]}


def replay_cfg(path: Path, **overrides):
    return load_config([f"replay.path={path}", "replay.enabled=true",
                        *(f"replay.{key}={value}" for key, value in overrides.items())]).replay


# --- the replay set ----------------------------------------------------------------------------------------
def test_replay_takes_the_first_num_sorted_lines_of_every_sorted_source_folder(tmp_path):
    root = write_replay(tmp_path / "replay", REPLAY_SOURCES)
    (root / "manifest.json").write_text("{}")  # a file next to the source folders is not a source
    pairs = read_replay_pairs(root, num=2)
    assert [(image.parent.parent.name, image.name, label.name) for image, label in pairs] == [
        (source, f"web{k}.jpg", f"web{k}.png") for source in sorted(REPLAY_SOURCES) for k in (0, 1)]
    as_released = read_replay_pairs(root, num=2, line_order="file")  # the file lists web2, web1, web0
    assert [p[0].name for p in as_released[:2]] == ["web2.jpg", "web1.jpg"]


def test_relocated_replay_lists_find_their_files_in_the_source_folder(tmp_path):
    root = write_replay(tmp_path / "replay", REPLAY_SOURCES, absolute_elsewhere=True)
    pairs = read_replay_pairs(root, num=1)
    assert pairs[0] == (root / "2007_000001" / "image" / "web0.jpg", root / "2007_000001" / "label" / "web0.png")


def test_replay_labels_describe_the_crop_not_the_full_image(tmp_path):
    label = np.zeros((32, 32), dtype=np.uint8)
    label[8:24, 8:24] = 3      # the centre
    label[:4, :4] = 7          # a corner a centre crop loses
    label[31, :] = 255         # ignored pixels name no class
    Image.fromarray(label, mode="L").save(tmp_path / "l.png")
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(tmp_path / "i.jpg")
    tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    full = ReplayDataset([tmp_path / "i.jpg"], [tmp_path / "l.png"], 20, v2.Compose(tensor))
    crop = ReplayDataset([tmp_path / "i.jpg"], [tmp_path / "l.png"], 20, v2.Compose([v2.CenterCrop(12), *tensor]))
    assert torch.nonzero(full[(0, 0)]["labels"]).flatten().tolist() == [2, 6]   # classes 3 and 7 -> entries k-1
    assert torch.nonzero(crop[(0, 0)]["labels"]).flatten().tolist() == [2]
    assert crop[(0, 0)]["image"].shape == (3, 12, 12) and "mask" not in crop[(0, 0)]


def test_replay_train_transform_moves_the_pseudo_label_with_the_image(tmp_path):
    root = write_replay(tmp_path / "replay", {"s": [[2, 7, 15]]})  # red channel = 13 * class id
    dataset = build_replay_dataset(replay_cfg(root, num=1), TASK, train_transform(16))
    mean, std = torch.tensor(IMAGENET_MEAN)[0], torch.tensor(IMAGENET_STD)[0]
    seen = set()
    for seed in range(40):
        sample = dataset[(0, seed)]
        assert sample["labels"].shape == (len(TASK.order) - 1,)
        classes = [k + 1 for k in torch.nonzero(sample["labels"]).flatten().tolist()]
        red = (sample["image"][0] * std + mean) * 255
        # Every class the labels keep is visible in the same crop of the image: some pixel is nearest to its
        # colour (a class the mask keeps in its last row only is a bilinear blend in the image, as in PIL).
        colours = torch.tensor([0.0, 13 * 2, 13 * 7, 13 * 15])
        nearest = colours[(red[..., None] - colours).abs().argmin(-1)]
        assert all((nearest == 13 * k).any() for k in classes), (seed, classes)
        seen.add(tuple(classes))
    assert (2, 7, 15) in seen and len(seen) > 1  # some crops show every band, others lose some
    assert all(set(s) <= {2, 7, 15} for s in seen)


@pytest.mark.parametrize("damage, message", [
    ("no folder", "does not exist (option replay.path)"),
    ("no list", "has no train_fullPath.txt"),
    ("missing image", "image file"),
    ("future class", "outside the legal ids"),
    ("bad line", "expected '<image path> <label path>'"),
])
def test_bad_replay_data_fails_with_the_file_and_the_fix(tmp_path, damage, message):
    root = write_replay(tmp_path / "replay", REPLAY_SOURCES)
    culprit = root / "2007_000001"
    if damage == "no folder":
        root = tmp_path / "nowhere"
    elif damage == "no list":
        (culprit / "train_fullPath.txt").unlink()
    elif damage == "missing image":
        (culprit / "image" / "web0.jpg").unlink()
    elif damage == "future class":  # 17 is learned at step 1: a step-0 model cannot have predicted it
        Image.fromarray(label_map([17]), mode="L").save(culprit / "label" / "web0.png")
    else:
        (culprit / "train_fullPath.txt").write_text("just-one-field\n")
    with pytest.raises(WilssError, match=re.escape(message)) as error:
        build_replay_dataset(replay_cfg(root), TASK, train_transform(16))
    assert str(root if damage == "no folder" else culprit) in str(error.value)
    if damage == "future class":
        assert "web0.png" in str(error.value) and "pseudo-label" in str(error.value)


# --- batch mixing ------------------------------------------------------------------------------------------
def batches(sampler, epoch, skip=0):
    sampler.set_epoch(epoch, skip)
    items = list(sampler)
    return [items[i: i + sampler.local_batch] for i in range(0, len(items), sampler.local_batch)]


def test_every_per_rank_batch_is_half_new_half_replay_and_ranks_split_the_global_batch():
    sizes = (10, 7)
    single = MixedShardSampler(sizes, (4, 4), seed=3)
    ranks = [MixedShardSampler(sizes, (2, 2), rank=r, world_size=2, seed=3) for r in (0, 1)]
    for epoch in range(3):
        for rank_batches in zip(*(batches(s, epoch) for s in ranks)):
            for batch in rank_batches:
                assert [index < sizes[0] for index, _ in batch] == [True, True, False, False]
        merged = [sorted(b0 + b1) for b0, b1 in zip(*(batches(s, epoch) for s in ranks))]
        assert merged == [sorted(b) for b in batches(single, epoch)]
    assert batches(ranks[0], 1) == batches(MixedShardSampler(sizes, (2, 2), rank=0, world_size=2, seed=3), 1)


def test_mixed_batches_resume_mid_epoch_and_each_part_streams_whole_passes():
    sampler = MixedShardSampler((10, 7), (3, 3), seed=1)
    assert sampler.batches_per_epoch() == 10 // 6
    assert batches(sampler, 4, skip=1) == batches(sampler, 4)[1:]
    stream = [item for epoch in range(7) for batch in batches(sampler, epoch) for item in batch]
    new = [index for index, _ in stream if index < 10]
    replay = [index - 10 for index, _ in stream if index >= 10]
    assert all(sorted(new[p * 10:(p + 1) * 10]) == list(range(10)) for p in range(len(new) // 10))
    assert all(sorted(replay[p * 7:(p + 1) * 7]) == list(range(7)) for p in range(len(replay) // 7))
    assert new[:10] != new[10:20]  # every pass reshuffled


def stream_cfg(tmp_path, *overrides):
    return load_config([*TINY, f"output_root={tmp_path / 'out'}", *overrides])


def epoch_lengths(tmp_path, folders: int) -> tuple[int, dict[str, int]]:
    """Iterations per epoch of a step-1 stream (8-image batches: 4 new-class + 4 replay with replay, 3 replay
    images per folder) per `replay.epoch_length`, and the number of the step's own images."""
    replay = write_replay(tmp_path / f"replay{folders}", {f"{k:04d}": [[1 + k % 15]] * 3 for k in range(folders)})
    lengths = {}
    for mode in ("off", "step_images", "step_data", "released"):
        extra = [] if mode == "off" else ["replay.enabled=true", f"replay.path={replay}",
                                          f"replay.epoch_length={mode}", "replay.num=3"]
        cfg = stream_cfg(tmp_path, "step=1", *extra)
        dataset, sampler = build_training_stream(cfg, step_task(cfg), True, 0, 1)
        lengths[mode] = sampler.batches_per_epoch()
    return len(dataset) - 3 * folders, lengths


def test_epoch_length_with_replay_follows_its_definition(tmp_path):
    new_images, lengths = epoch_lengths(tmp_path, folders=40)  # 120 replay images: the larger set
    assert new_images < 120
    assert lengths["off"] == lengths["step_data"] == new_images // 8  # the iterations of the run without replay
    assert lengths["step_images"] == -(-new_images // 4) > lengths["off"]  # each of the step's images once
    assert lengths["released"] == -(-120 // 4) > lengths["step_images"]  # grows with the replay set
    new_images, lengths = epoch_lengths(tmp_path, folders=2)  # 6 replay images: the smaller set
    assert lengths["step_images"] == lengths["released"] == -(-new_images // 4)


def test_weak_step_images_carry_no_mask_and_keep_the_augmentation_they_had_with_it(tmp_path):
    cfg = stream_cfg(tmp_path, "step=1")
    weak, _ = build_training_stream(cfg, step_task(cfg), True, 0, 1)
    with_masks = build_train_dataset(cfg.dataset, step_task(cfg), overlap=False)
    for seed in range(5):
        assert "mask" not in weak[(seed, seed)]
        assert torch.equal(weak[(seed, seed)]["image"], with_masks[(seed, seed)]["image"])


def test_replay_and_web_are_ignored_by_a_fully_supervised_step(tmp_path):
    cfg = stream_cfg(tmp_path, "step=0", "replay.enabled=true", "replay.path=/nowhere", "web.enabled=true")
    dataset, _ = build_training_stream(cfg, step_task(cfg), False, 0, 1)
    assert "mask" in dataset[(0, 0)]


def test_a_per_rank_batch_too_small_to_mix_is_refused(tmp_path):
    replay = write_replay(tmp_path / "replay", REPLAY_SOURCES)
    cfg = stream_cfg(tmp_path, "step=1", "train.batch_size=2", "replay.enabled=true", f"replay.path={replay}",
                     "replay.ratio=0.2")
    with pytest.raises(WilssError, match="raise train.batch_size"):
        build_training_stream(cfg, step_task(cfg), True, 0, 2)


# --- web images for the new classes ------------------------------------------------------------------------
WEB_IMAGES = {  # class folder -> (image name, caption)
    "sheep": [("s0.jpg", "two sheep beside a sofa and a cat"), ("s1.jpg", "a lamb in a field")],
    "tvmonitor": [("t0.jpg", "a television on a table"), ("t1.jpg", "a computer screen")],
    "cat": [("c0.jpg", "a kitten")],  # an old class at step 1: not new-class data
}


def write_web(root: Path) -> tuple[Path, Path]:
    selection, captions = [], []
    for k, (name, images) in enumerate(sorted(WEB_IMAGES.items())):
        (root / "classes" / name).mkdir(parents=True)
        for number, (image, caption) in enumerate(images):
            rgb = np.full((40, 48, 3), 40 * k + 20 * number, dtype=np.uint8)
            Image.fromarray(rgb).save(root / "classes" / name / image)
            selection.append(f"{name} classes/{name}/{image}")
            captions.append(f"classes/{name}/{image}\t{caption}")
    (root / "web_selection.txt").write_text("\n".join(selection) + "\n")
    (root / "captions.tsv").write_text("\n".join(captions) + "\n")
    return root / "web_selection.txt", root / "captions.tsv"


def web_cfg(root: Path, *overrides):
    selection, captions = root / "web_selection.txt", root / "captions.tsv"
    return load_config(["web.enabled=true", f"web.root={root}", f"web.selection={selection}",
                        f"web.captions={captions}", *overrides]).web


def new_labels(dataset) -> list[list[str]]:
    names = TASK.class_names()[1:]
    return [[names[k] for k in torch.nonzero(dataset[(i, 0)]["labels"]).flatten().tolist()]
            for i in range(len(dataset))]


def test_web_images_get_their_folder_class_and_the_new_classes_their_caption_names(tmp_path):
    write_web(tmp_path / "web")
    dataset = build_web_dataset(web_cfg(tmp_path / "web"), TASK, train_transform(16))
    assert [path.name for path in dataset.images] == ["s0.jpg", "s1.jpg", "t0.jpg", "t1.jpg"]
    # "cat" is old and "table" is diningtable (old): only the step's new classes become labels.
    assert new_labels(dataset) == [["sheep", "sofa"], ["sheep"], ["tvmonitor"], ["tvmonitor"]]
    assert "mask" not in dataset[(0, 0)]
    folder_only = build_web_dataset(web_cfg(tmp_path / "web", "web.caption_labels=false", "web.num=1"), TASK,
                                     train_transform(16))
    assert new_labels(folder_only) == [["sheep"], ["tvmonitor"]]


@pytest.mark.parametrize("damage, message", [
    ("missing image", "do not exist under web.root"),
    ("no caption", "has no caption"),
    ("unknown class", "expected '<class name> <image path>'"),
    ("no selection", "python -m wilss.web discriminator"),
])
def test_bad_web_data_fails_with_the_file_and_the_fix(tmp_path, damage, message):
    selection, captions = write_web(tmp_path / "web")
    if damage == "missing image":
        (tmp_path / "web" / "classes" / "sheep" / "s1.jpg").unlink()
    elif damage == "no caption":
        captions.write_text(captions.read_text().replace("classes/sheep/s1.jpg\t", "elsewhere.jpg\t"))
    elif damage == "unknown class":
        selection.write_text("lamb classes/sheep/s0.jpg\n")
    else:
        selection.unlink()
    with pytest.raises(WilssError, match=re.escape(message)):
        build_web_dataset(web_cfg(tmp_path / "web"), TASK, train_transform(16))


# --- python -m wilss.train ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def step0(tmp_path_factory) -> Path:
    """A tiny trained step 0 whose final.pt starts every step 1 below (and the synthetic data they share)."""
    tmp = tmp_path_factory.mktemp("step0")
    result = train(tmp, "train.epochs_base=1", "train.max_iters_per_epoch=2", f"run_dir={tmp / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp


def step1(step0: Path, run: Path, *overrides) -> list[str]:
    return ["wilss.train", *TINY, f"output_root={step0 / 'out'}", *STEP1, f"run_dir={run}",
            f"step_ckpt={step0 / 'run' / 'step0' / 'checkpoints' / 'final.pt'}", *overrides]


def final_weights(run: Path) -> dict:
    return torch.load(run / "step1" / "checkpoints" / "final.pt", weights_only=True)["modules"]["model"]


def test_interrupted_replay_step_resumes_to_the_weights_of_an_uninterrupted_one(step0, tmp_path):
    replay = write_replay(tmp_path / "replay", REPLAY_SOURCES)
    args = [f"replay.path={replay}", "replay.enabled=true", "train.checkpoint_interval=1"]
    straight = run_cli(step1(step0, tmp_path / "straight", *args), cwd=REPO)
    assert straight.returncode == 0, straight.stderr[-3000:]
    assert "every per-rank batch holds 4 new-class + 4 replay images" in straight.stdout

    interrupted = tmp_path / "interrupted"
    sidecar = interrupted / "step1" / "checkpoints" / "last.json"
    process = subprocess.Popen([sys.executable, "-m", *step1(step0, interrupted, *args)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if sidecar.is_file() and json.loads(sidecar.read_text())["progress"]["iteration"] >= 1:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    progress = json.loads(sidecar.read_text())["progress"]
    assert progress["iteration"] == 1 and not (interrupted / "step1" / "checkpoints" / "final.pt").exists()
    resumed = run_cli(step1(step0, interrupted, *args), cwd=REPO)
    assert resumed.returncode == 0 and "resumed from" in resumed.stdout, resumed.stderr[-3000:]
    expected, got = final_weights(tmp_path / "straight"), final_weights(interrupted)
    for key, value in expected.items():
        assert torch.equal(value, got[key]), key


def test_web_new_class_step_with_replay_trains_through_the_command(step0, tmp_path):
    write_web(tmp_path / "web")
    replay = write_replay(tmp_path / "replay", REPLAY_SOURCES)
    selection, captions = tmp_path / "web" / "web_selection.txt", tmp_path / "web" / "captions.tsv"
    result = run_cli(step1(step0, tmp_path / "run", "train.epochs_incremental=1", "train.batch_size=4",
                           "web.enabled=true", f"web.root={tmp_path / 'web'}", f"web.selection={selection}",
                           f"web.captions={captions}", "replay.enabled=true", f"replay.path={replay}"), cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "web selection" in result.stdout and "no image of ['pottedplant', 'sofa', 'train']" in result.stdout
    assert "2 iterations per epoch" in result.stdout  # each of the 4 web images once, 2 per half-replay batch
    summary = json.loads((tmp_path / "run" / "step1" / "results.json").read_text())["sets"]["val"]
    assert summary["miou_new"] is not None


def test_replay_without_a_path_is_a_clear_command_line_error(step0, tmp_path):
    result = run_cli(step1(step0, tmp_path / "run", "replay.enabled=true"), cwd=REPO)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "replay.enabled=true needs replay.path=" in result.stderr

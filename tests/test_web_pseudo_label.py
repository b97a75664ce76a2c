"""`python -m wilss.web pseudo-label` end to end: a real tiny step-0 run labels synthetic replay web images."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, run_cli
from test_train_e2e import TINY
from wilss.models import build_model
from wilss.synthetic.web import ensure_synthetic_web

SOURCES = 3      # source images with replay web images
PER_SOURCE = 2   # web images retrieved per source, all selected


@pytest.fixture(scope="module")
def step0(tmp_path_factory) -> dict[str, Path]:
    """A step-0 checkpoint trained by `python -m wilss.train`, web data for its dataset, a replay selection."""
    root = tmp_path_factory.mktemp("pseudo")
    run_dir = root / "run"
    result = run_cli(["wilss.train", *TINY, "train.epochs_base=1", "train.max_iters_per_epoch=2",
                      "train.val_interval=5", f"output_root={root / 'out'}", f"run_dir={run_dir}"], cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    dataset = next((root / "out" / "data").glob("synthetic-*"))
    web = ensure_synthetic_web(root / "web", dataset, per_class=1, per_source=PER_SOURCE, sources=SOURCES, size=40)
    lines = sorted(f"{folder.name} {image.relative_to(web).as_posix()}"
                   for folder in (web / "replay").iterdir() for image in folder.glob("*.jpg"))
    selection = root / "replay_selection.txt"
    selection.write_text("\n".join(lines) + "\n")
    return {"root": root, "web": web, "selection": selection,
            "checkpoint": run_dir / "step0" / "checkpoints" / "final.pt"}


def pseudo_label(step0: dict[str, Path], out: Path, *extra: str, checkpoint: Path | None = None):
    return run_cli(["wilss.web", "pseudo-label", "--web-root", str(step0["web"]), "--selection",
                    str(step0["selection"]), "--checkpoint", str(checkpoint or step0["checkpoint"]),
                    "--out", str(out), *extra], cwd=REPO)


def direct_prediction(checkpoint: Path, image: Path) -> np.ndarray:
    """The step-0 model's argmax, built and run here without the command's code."""
    state = torch.load(checkpoint, weights_only=True)
    config = state["meta"]["config"]
    model = build_model(config["model"]["backbone"], [16], output_stride=config["model"]["output_stride"],
                        norm=config["model"]["norm"],
                        pooling_size=config["dataset"]["crop_size"] // config["model"]["output_stride"])
    model.load_state_dict(state["modules"]["model"])
    pixels = torch.from_numpy(np.asarray(Image.open(image).convert("RGB"), dtype=np.float32) / 255)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    normalised = ((pixels - mean) / std).permute(2, 0, 1).unsqueeze(0)
    with torch.no_grad():
        logits, _ = model.eval()(normalised)
    return logits[0].argmax(0).numpy().astype(np.uint8)


def tree_digests(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_writes_the_released_replay_layout_with_step0_labels(step0, tmp_path):
    out = tmp_path / "replay"
    result = pseudo_label(step0, out)
    assert result.returncode == 0, result.stderr[-3000:]
    sources = sorted(path.name for path in out.iterdir() if path.is_dir())
    assert len(sources) == SOURCES
    for source in sources:
        lines = (out / source / "train_fullPath.txt").read_text().splitlines()
        assert lines == sorted(lines) and len(lines) == PER_SOURCE
        for line in lines:
            image, label = (Path(field) for field in line.split())
            assert image.is_absolute() and image.parent == out.resolve() / source / "image"
            assert label == out.resolve() / source / "label" / f"{image.stem}.png"
            original = step0["web"] / "replay" / source / image.name
            assert image.read_bytes() == original.read_bytes()
            assert np.array_equal(np.asarray(Image.open(label)), direct_prediction(step0["checkpoint"], original))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["checkpoint"]["sha256"] == hashlib.sha256(step0["checkpoint"].read_bytes()).hexdigest()
    assert {record["path"]: record["sha256"] for record in manifest["outputs"]["files"]} == \
        {path: digest for path, digest in tree_digests(out).items() if path != "manifest.json"}


def without_lists(manifest_path: Path) -> dict:
    """A manifest minus the records of the train_fullPath.txt files, whose absolute paths name the output folder."""
    manifest = json.loads(manifest_path.read_text())
    manifest["outputs"]["files"] = [record for record in manifest["outputs"]["files"]
                                    if not record["path"].endswith("train_fullPath.txt")]
    return manifest


def test_a_second_run_writes_the_same_bytes(step0, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert pseudo_label(step0, first).returncode == 0
    before = tree_digests(first)
    assert pseudo_label(step0, first).returncode == 0     # rerunning into the same folder replaces it identically
    assert tree_digests(first) == before
    assert pseudo_label(step0, second).returncode == 0    # elsewhere: the same bytes, up to the folder's own path
    elsewhere = tree_digests(second)
    lists = [name for name in before if name.endswith("train_fullPath.txt")]
    assert before.keys() == elsewhere.keys() and len(lists) == SOURCES
    location_free = [name for name in before if name not in lists and name != "manifest.json"]
    assert [before[name] for name in location_free] == [elsewhere[name] for name in location_free]
    for name in lists:
        assert (first / name).read_text().replace(str(first.resolve()), "OUT") == \
            (second / name).read_text().replace(str(second.resolve()), "OUT")
    assert without_lists(first / "manifest.json") == without_lists(second / "manifest.json")


def _altered_checkpoint(step0, tmp_path: Path, change) -> Path:
    state = torch.load(step0["checkpoint"], weights_only=True)
    change(state)
    path = tmp_path / "altered.pt"
    torch.save(state, path)
    return path


def test_refuses_a_checkpoint_of_a_later_step(step0, tmp_path):
    path = _altered_checkpoint(step0, tmp_path, lambda state: state["meta"].update(step=1))
    result = pseudo_label(step0, tmp_path / "out", checkpoint=path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "step-1 checkpoint" in result.stderr and not (tmp_path / "out").exists()


def test_refuses_a_checkpoint_of_another_task(step0, tmp_path):
    result = pseudo_label(step0, tmp_path / "out", "--task", "10-10")
    assert result.returncode == 2 and "task: checkpoint has '15-5', run expects '10-10'" in result.stderr


def test_refuses_weights_with_mismatched_keys_instead_of_loading_what_fits(step0, tmp_path):
    def drop_a_head_weight(state):
        state["modules"]["model"].pop("head.red_conv.weight")
    path = _altered_checkpoint(step0, tmp_path, drop_a_head_weight)
    result = pseudo_label(step0, tmp_path / "out", checkpoint=path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "does not fit" in result.stderr and "head.red_conv.weight" in result.stderr


def test_refuses_a_file_that_is_not_a_checkpoint(step0, tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("not a checkpoint")
    result = pseudo_label(step0, tmp_path / "out", checkpoint=path)
    assert result.returncode == 2 and "cannot be read" in result.stderr

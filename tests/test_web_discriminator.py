"""`python -m wilss.web discriminator` end to end on synthetic dataset and synthetic web images."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from wilss.synthetic.voc import ensure_synthetic
from wilss.synthetic.web import ensure_synthetic_web

NEW_15_5 = ["pottedplant", "sheep", "sofa", "train", "tvmonitor"]
PER_CLASS = 4


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """260 dataset images and 15 x 18 = 270 web images of the 15-5 base classes (32 px: spectra at full size)."""
    root = tmp_path_factory.mktemp("discriminator")
    dataset = ensure_synthetic(root / "dataset", n_train=260, n_val=1, size=32)
    web = ensure_synthetic_web(root / "web", dataset, per_class=18, per_source=1, sources=1, size=32)
    return {"root": root, "dataset": dataset, "web": web}


def discriminator(data, out: Path, *extra: str):
    return run_cli(["wilss.web", "discriminator", "--dataset-root", str(data["dataset"]), "--web-root",
                    str(data["web"]), "--out", str(out), *extra], cwd=REPO)


@pytest.fixture(scope="module")
def trained(data) -> Path:
    out = data["root"] / "trained"
    result = discriminator(data, out, "--epochs", "10", "--per-class", str(PER_CLASS))
    assert result.returncode == 0, result.stderr[-3000:]
    (out / "stdout.txt").write_text(result.stdout)
    return out


def read_scores(path: Path) -> dict[str, tuple[str, float]]:
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:]]
    return {image: (name, float(ratio)) for name, image, ratio in rows}


def test_tells_dataset_from_web_images_on_held_out_images(trained):
    manifest = json.loads((trained / "manifest.json").read_text())
    accuracy = manifest["outputs"]["heldout_accuracy"]
    # 104 held-out images: one image is ~0.01 and the binomial standard error ~0.03. The same seeded run measured
    # 0.933 here (2+ threads), 0.904 with one thread and 0.894 on the CI machine (other CPU kernels); chance is 0.5.
    # The floor sits three standard errors below those, so it fails a discriminator that does not learn, not a CPU.
    assert accuracy["all"] >= 0.8, accuracy
    printed = re.search(r"held-out accuracy: ([0-9.]+)", (trained / "stdout.txt").read_text())
    assert printed and float(printed.group(1)) == pytest.approx(accuracy["all"], abs=1e-4)
    heldout = {record["path"] for key in ("heldout_dataset", "heldout_web") for record in manifest["inputs"][key]}
    trained_on = {record["path"] for key in ("train_dataset", "train_web") for record in manifest["inputs"][key]}
    assert heldout and not heldout & trained_on
    negatives = [record["path"] for record in manifest["inputs"]["train_web"]]
    assert all(path.split("/")[1] not in NEW_15_5 for path in negatives)   # new classes are never negatives


def test_keeps_the_top_new_class_images_with_ratio_above_one(trained, data):
    scores = read_scores(trained / "scores.tsv")
    assert sorted({name for name, _ in scores.values()}) == NEW_15_5
    lines = (trained / "web_selection.txt").read_text().splitlines()
    assert lines == sorted(lines)
    kept: dict[str, list[str]] = {}
    for line in lines:
        name, image = line.split()
        assert (data["web"] / image).is_file() and scores[image][0] == name
        kept.setdefault(name, []).append(image)
    for name in NEW_15_5:
        ranked = sorted((-ratio, image) for image, (owner, ratio) in scores.items() if owner == name and ratio > 0)
        assert sorted(kept.get(name, [])) == sorted(image for _, image in ranked[:PER_CLASS])


def test_a_reused_discriminator_scores_the_same_at_another_batch_size(trained, data, tmp_path):
    result = discriminator(data, tmp_path, "--discriminator", str(trained / "discriminator.pt"), "--batch-size", "5",
                           "--per-class", str(PER_CLASS))
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = read_scores(trained / "scores.tsv"), read_scores(tmp_path / "scores.tsv")
    assert first.keys() == second.keys()
    assert all(abs(first[image][1] - second[image][1]) < 1e-4 for image in first)
    assert (tmp_path / "web_selection.txt").read_text() == (trained / "web_selection.txt").read_text()


def test_training_twice_writes_the_same_bytes(data, tmp_path):
    tiny = ["--size", "16", "--epochs", "1", "--max-per-domain", "12", "--classes", "sheep"]
    outputs = [tmp_path / "a", tmp_path / "b"]
    for out in outputs:
        result = discriminator(data, out, *tiny)
        assert result.returncode == 0, result.stderr[-3000:]
    for name in ("manifest.json", "discriminator.pt", "web_selection.txt", "scores.tsv"):
        assert (outputs[0] / name).read_bytes() == (outputs[1] / name).read_bytes(), name


@pytest.mark.parametrize("extra, message", [
    (["--step", "0"], "--step 0 has no new classes"),
    (["--classes", "unicorn"], "unknown class name(s) ['unicorn']"),
    (["--task", "10-10", "--step", "1", "--classes", "sheep,zebra"], "unknown class name(s) ['zebra']"),
    (["--holdout", "1.5"], "--holdout must be between 0 and 1"),
])
def test_bad_options_fail_with_one_clear_message(data, tmp_path, extra, message):
    result = discriminator(data, tmp_path / "out", *extra)
    assert result.returncode == 2 and "Traceback" not in result.stderr and message in result.stderr


def test_a_missing_class_folder_is_named(data, tmp_path):
    web = tmp_path / "web"
    (web / "classes" / "sheep").mkdir(parents=True)
    result = run_cli(["wilss.web", "discriminator", "--dataset-root", str(data["dataset"]), "--web-root", str(web),
                      "--out", str(tmp_path / "out"), "--classes", "sheep"], cwd=REPO)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "classes/aeroplane' is missing" in result.stderr

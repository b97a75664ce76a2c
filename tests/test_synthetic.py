"""The synthetic VOC stand-in: reproducible, in the VOC layout, balanced, and generated only when needed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from wilss.data.palette import voc_colormap
from wilss.errors import WilssError
from wilss.synthetic import voc as synthetic
from wilss.synthetic.voc import ensure_synthetic, generate

SMALL = {"n_train": 20, "n_val": 8, "size": 64, "seed": 0}
TINY = {"n_train": 6, "n_val": 3, "size": 32, "seed": 0}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "data"
    generate(root, **SMALL)
    return root


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _pairs(root: Path, list_name: str) -> list[tuple[Path, Path]]:
    lines = (root / "splits" / list_name).read_text().splitlines()
    return [(root / image.lstrip("/"), root / mask.lstrip("/")) for image, mask in (line.split() for line in lines)]


def _masks(root: Path, list_name: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(mask)) for _, mask in _pairs(root, list_name)]


def _cli(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "wilss.synthetic.voc", "--out", str(out), "--train", "6", "--val", "3",
            "--size", "32", *extra]


def test_same_seed_gives_byte_identical_files(small, tmp_path):
    generate(tmp_path / "again", **SMALL)
    assert _digests(tmp_path / "again") == _digests(small)


def test_different_seed_gives_different_images(small, tmp_path):
    generate(tmp_path / "other", **{**SMALL, "seed": 1})
    first, second = _digests(small), _digests(tmp_path / "other")
    images = [name for name in first if name.startswith("JPEGImages")]
    assert images and all(first[name] != second[name] for name in images)


def test_layout_is_the_voc_layout(small):
    palette = voc_colormap(256).reshape(-1).tolist()
    for list_name, count in (("train_aug.txt", SMALL["n_train"]), ("val.txt", SMALL["n_val"])):
        lines = (small / "splits" / list_name).read_text().splitlines()
        assert len(lines) == count
        for line in lines:
            image, mask = line.split()
            assert image.startswith("/JPEGImages/") and image.endswith(".jpg")
            assert mask.startswith("/SegmentationClassAug/") and mask.endswith(".png")
        for image_path, mask_path in _pairs(small, list_name):
            with Image.open(image_path) as image, Image.open(mask_path) as mask:
                assert image.mode == "RGB" and mask.mode == "P"
                assert image.size == mask.size == (SMALL["size"], SMALL["size"])
                assert mask.getpalette() == palette
    assert json.loads((small / "synthetic.json").read_text())["n_train"] == SMALL["n_train"]


def test_mask_values_are_background_classes_or_void(small):
    values = set()
    for mask in _masks(small, "train_aug.txt") + _masks(small, "val.txt"):
        values |= set(np.unique(mask).tolist())
    assert values <= set(range(21)) | {255}
    assert {0, 255} <= values and len(values - {0, 255}) >= 10


def test_void_is_a_thin_band_separating_every_region(small):
    for mask in _masks(small, "train_aug.txt"):
        assert (mask == 255).any()
        labelled = mask != 255
        # Two different labels never touch: a void band lies along every outline, occlusions included.
        for a, b in ((mask[1:], mask[:-1]), (mask[:, 1:], mask[:, :-1])):
            both = (a != 255) & (b != 255)
            assert np.all(a[both] == b[both])
        # ... and the band is thin: every void pixel is within 3 px of a labelled pixel (thin object parts
        # may be void all across, like VOC's bicycle spokes).
        near = np.zeros_like(labelled)
        padded = np.pad(labelled, 3)
        for dy in range(7):
            for dx in range(7):
                near |= padded[dy:dy + mask.shape[0], dx:dx + mask.shape[1]]
        assert near.all()
        assert (mask == 255).mean() < 0.3


def test_every_class_appears_and_class_counts_are_balanced(tmp_path):
    generate(tmp_path / "balance", n_train=200, n_val=40, size=48, seed=3)
    for list_name in ("train_aug.txt", "val.txt"):
        counts = np.zeros(21, dtype=int)
        for mask in _masks(tmp_path / "balance", list_name):
            counts[np.unique(mask[mask != 255])] += 1
        assert counts[1:].min() > 0, f"{list_name}: some class never appears: {counts[1:]}"
        assert counts[1:].max() / counts[1:].min() <= 1.5, f"{list_name}: unbalanced: {counts[1:]}"


def test_ensure_synthetic_reuses_a_dataset_with_the_same_parameters(tmp_path):
    root = ensure_synthetic(tmp_path / "syn", **TINY)
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    assert ensure_synthetic(tmp_path / "syn", **TINY) == root
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == stamps


def test_ensure_synthetic_regenerates_when_parameters_differ(tmp_path):
    root = ensure_synthetic(tmp_path / "syn", **TINY)
    ensure_synthetic(root, **{**TINY, "n_train": 7})
    assert len((root / "splits" / "train_aug.txt").read_text().splitlines()) == 7
    assert json.loads((root / "synthetic.json").read_text())["n_train"] == 7
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["syn"]


def test_interrupted_generation_leaves_no_dataset(tmp_path, monkeypatch):
    def crash(out, *args):
        (Path(out) / "JPEGImages").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "generate", crash)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic(tmp_path / "syn", **TINY)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == []


def test_ensure_synthetic_refuses_to_replace_a_foreign_directory(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(WilssError, match="not a synthetic dataset"):
        ensure_synthetic(tmp_path / "mine", **TINY)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_cli_generates_then_reports_an_up_to_date_dataset(tmp_path):
    first = subprocess.run(_cli(tmp_path / "syn"), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "drawing the synthetic dataset (32 px)" in first.stdout  # its progress line, then the summary
    assert first.stdout.splitlines()[-1].startswith("wrote 6 train + 3 val images")
    second = subprocess.run(_cli(tmp_path / "syn"), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and "already holds" in second.stdout
    forced = subprocess.run(_cli(tmp_path / "syn", "--force"), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert forced.returncode == 0 and forced.stdout.splitlines()[-1].startswith("wrote")


def test_concurrent_callers_generate_once(tmp_path):
    runs = [subprocess.Popen(_cli(tmp_path / "syn"), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    # one draws it, the other waits for the lock and finds it done
    assert sorted(out.splitlines()[-1].split()[0] for out, _ in outputs) == [str(tmp_path / "syn"), "wrote"]
    assert len((tmp_path / "syn" / "splits" / "train_aug.txt").read_text().splitlines()) == 6

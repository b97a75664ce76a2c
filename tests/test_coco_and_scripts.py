"""COCO-to-VOC data paths on a tiny COCO layout, full-image evaluation, and the VOC index verifier."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
from PIL import Image

from conftest import REPO, write_voc
from wilss.data.build import build_eval_datasets, build_train_dataset
from wilss.data.tasks import get_task


def write_coco(root, images: dict[str, dict[str, list[int]]], size: int = 16):
    """COCO layout: images/<dir>/<id>.jpg, annotations/<dir>/<id>.png (COCO ids), split/<split>.txt."""
    for split, folder in (("train", "train2017"), ("val", "val2017")):
        (root / "images" / folder).mkdir(parents=True)
        (root / "annotations" / folder).mkdir(parents=True)
        (root / "split").mkdir(exist_ok=True)
        for image_id, classes in images[split].items():
            mask = np.zeros((size, size), dtype=np.uint8)
            for k, class_id in enumerate(classes):
                mask[k * 3:(k + 1) * 3] = class_id
            Image.new("RGB", (size, size), (90, 20, 40)).save(root / "images" / folder / f"{image_id}.jpg")
            Image.fromarray(mask, mode="L").save(root / "annotations" / folder / f"{image_id}.png")
        (root / "split" / f"{split}.txt").write_text("\n".join(images[split]) + "\n")
    return root


def coco_cfg(tmp_path, coco, voc):
    return SimpleNamespace(name="coco-voc", coco_root=str(coco), voc_root=str(voc), crop_size=16,
                           crop_size_val=16, cache_dir=str(tmp_path / "cache"))


def test_coco_to_voc_step0_keeps_base_images_without_voc_classes(tmp_path):
    # 8 = truck (base), 1 = person (VOC), 12 = not a COCO-2017 class.
    coco = write_coco(tmp_path / "coco", {"train": {"1": [8], "2": [8, 1], "3": [12], "4": [10, 11]},
                                          "val": {"9": [8, 1]}})
    cfg = coco_cfg(tmp_path, coco, tmp_path / "voc")
    train = build_train_dataset(cfg, get_task("coco-voc", "voc", 0), overlap=False)
    assert [p.stem for p in train.images] == ["1", "4"]
    assert build_eval_datasets(cfg, get_task("coco-voc", "voc", 0), "parity")["val"].lut[1] == 0  # person unseen


def test_coco_to_voc_step1_relabels_voc_masks_on_the_fly(tmp_path):
    coco = write_coco(tmp_path / "coco", {"train": {"1": [8]}, "val": {"9": [8, 1]}})
    voc = write_voc(tmp_path / "voc", {"a": [15], "b": [1, 15]}, {"v": [12]})  # 15 person, 1 aeroplane, 12 dog
    cfg = coco_cfg(tmp_path, coco, voc)
    task = get_task("coco-voc", "voc", 1)
    train = build_train_dataset(cfg, task, overlap=False)
    item = train[(0, 0)]
    assert set(item["mask"].unique().tolist()) <= {0, 61}      # VOC person -> COCO 1 -> channel 61
    assert item["labels"].nonzero().flatten().tolist() == [60]
    sets = build_eval_datasets(cfg, task, "parity")
    assert list(sets) == ["val", "test"]
    dog = task.order.index(18)                                  # VOC dog -> COCO 18
    assert int(sets["val"].lut[12]) == dog and len(sets["test"]) == 1


def test_full_mode_evaluates_whole_images(tmp_path):
    voc = write_voc(tmp_path / "voc", {"a": [1]}, {"v": [2]}, size=24)
    cfg = SimpleNamespace(name="voc", root=str(voc), crop_size=16, crop_size_val=16, cache_dir=str(tmp_path / "c"))
    task = get_task("voc", "15-5", 0)
    assert build_eval_datasets(cfg, task, "full")["val"][(0, 0)]["mask"].shape == (24, 24)
    assert build_eval_datasets(cfg, task, "parity")["val"][(0, 0)]["mask"].shape == (16, 16)


def test_verify_voc_index_reports_mismatches_on_other_data(tiny_voc, tmp_path):
    command = [sys.executable, "scripts/verify_voc_index.py", "--root", str(tiny_voc), "--cache-dir", str(tmp_path / "c")]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "15-5 step 0 disjoint:     5 images (original 8437) MISMATCH" in result.stdout

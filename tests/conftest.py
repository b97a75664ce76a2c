"""Shared fixtures: small hand-made datasets in the VOC layout whose contents are known exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def write_voc(root: Path, train: dict[str, list[int]], val: dict[str, list[int]] | None = None,
              size: int = 16) -> Path:
    """Write a VOC-layout dataset: each image id maps to the class ids drawn in its mask (one vertical band per
    class, on a background), so the per-image class sets are known."""
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "SegmentationClassAug").mkdir(parents=True, exist_ok=True)
    (root / "splits").mkdir(parents=True, exist_ok=True)
    for split, items in (("train_aug", train), ("val", val if val is not None else train)):
        lines = []
        for image_id, classes in items.items():
            mask = np.zeros((size, size), dtype=np.uint8)
            band = size // (len(classes) + 1)
            for k, class_id in enumerate(classes):
                mask[:, (k + 1) * band: (k + 2) * band] = class_id
            wide = mask.astype(np.int64)
            rgb = np.stack([wide * 12 % 256, wide * 5 % 256, 255 - wide], axis=-1).astype(np.uint8)
            Image.fromarray(rgb).save(root / "JPEGImages" / f"{image_id}.jpg", quality=95)
            Image.fromarray(mask, mode="L").save(root / "SegmentationClassAug" / f"{image_id}.png")
            lines.append(f"/JPEGImages/{image_id}.jpg /SegmentationClassAug/{image_id}.png")
        (root / "splits" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def tiny_voc(tmp_path: Path) -> Path:
    """Ten images with known classes for the 15-5 and 10-10 subset rules."""
    train = {
        "a": [1], "b": [1, 16], "c": [16], "d": [17, 20], "e": [11], "f": [5, 12], "g": [15, 255],
        "h": [3, 19], "i": [20], "j": [10, 11],
    }
    return write_voc(tmp_path / "voc", train)


def run_cli(args: list[str], cwd: Path, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a wilss command as a user would (a new Python process)."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)

"""Pascal VOC 2012 with the SBD masks, in the VOC layout (`dataset.root`)."""

from __future__ import annotations

from pathlib import Path

from wilss.data.datasets import DATASETS, DatasetSpec, Source
from wilss.data.sources import voc_split


def voc_sources(root: Path) -> dict[str, Source]:
    return {"train": Source(voc_split(root, "train")), "val": Source(voc_split(root, "val"))}


DATASETS.register("voc")(DatasetSpec("voc", lambda cfg, task: voc_sources(Path(cfg.root))))

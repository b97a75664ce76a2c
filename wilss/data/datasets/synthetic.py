"""The procedurally drawn VOC stand-in (`wilss.synthetic.voc`), drawn into `dataset.root` on first use."""

from __future__ import annotations

from pathlib import Path

from wilss.data.class_orders import Task
from wilss.data.datasets.registry import DATASETS, DatasetSpec, Source
from wilss.data.datasets.voc import voc_sources
from wilss.synthetic.voc import ensure_synthetic


def synthetic_sources(cfg, task: Task) -> dict[str, Source]:
    drawing = cfg.generate
    root = ensure_synthetic(Path(cfg.root), n_train=drawing.train, n_val=drawing.val, size=drawing.size,
                            seed=drawing.seed)
    return voc_sources(root)


DATASETS.register("synthetic")(DatasetSpec("voc", synthetic_sources, drawn=True))

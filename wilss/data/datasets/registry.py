"""The dataset registry and what a dataset registers, in a module of their own: the built-in datasets import
them, and the package's `__init__` imports the built-in datasets, so neither imports the other back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wilss.data.class_orders import Task
from wilss.data.index import load_presence
from wilss.data.sources import Split
from wilss.registry import Registry

IDENTITY = np.arange(256, dtype=np.uint8)


@dataclass(frozen=True)
class Source:
    """One split on disk plus the table that turns its raw ids into the task's class ids."""

    split: Split
    id_map: np.ndarray = field(default_factory=lambda: IDENTITY)

    def presence(self, cache_dir: Path) -> np.ndarray:
        raw = load_presence(self.split, cache_dir)
        mapped = np.zeros_like(raw)
        for raw_id in np.flatnonzero(raw.any(axis=0)):
            mapped[:, self.id_map[raw_id]] |= raw[:, raw_id]
        return mapped


@dataclass(frozen=True)
class Published:
    """Sizes of the official files, which the preflight compares with what is on disk: lines of each split list
    (keyed by '<list folder>/<list file>') and the training images of each step in the original's index files
    (keyed by (task, overlap, step))."""

    lines: dict[str, int] = field(default_factory=dict)
    subsets: dict[tuple[str, bool, int], int] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSpec:
    classes: str                                          # "voc" | "coco": the ids its tasks are written in
    sources: Callable[[object, Task], dict[str, Source]]  # (dataset config, task) -> 'train', 'val'[, 'test']
    overlap: bool = True                                  # whether overlap=true means anything for it
    drawn: bool = False                                   # drawn into `root` on first use: nothing to check before
    published: Published = field(default_factory=Published)
    root_option: str = "root"                             # the folder `wilss data check ROOT` stands for


DATASETS: Registry[DatasetSpec] = Registry("dataset", __package__, "dataset", group="wilss.datasets")

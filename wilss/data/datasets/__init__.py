"""Datasets by name (`dataset.name`): each module of this package registers a `DatasetSpec` in `DATASETS`
(`registry.py`).

A spec says which class ids its tasks use (`classes`: the VOC ids 0-20, or the COCO ids of COCO-to-VOC) and
where each split of a step comes from (`sources`), as `Source`s: a split on disk plus the table from its raw
mask ids to the task's class ids. `published` holds the official files' sizes
(checked by `wilss doctor`). Adding a dataset: a module here (listed in `_builtin`) plus a
`wilss/configs/dataset/<name>.yaml`, or a `wilss.datasets` entry point of your own package (docs/design.md).
"""

from __future__ import annotations

from wilss.data.datasets.registry import DATASETS, DatasetSpec, Source

__all__ = ["DATASETS", "DatasetSpec", "Source"]


@DATASETS.builtin
def _builtin() -> None:
    from wilss.data.datasets import coco_voc, synthetic, voc  # noqa: F401 (they register)

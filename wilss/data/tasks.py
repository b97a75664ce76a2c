"""Tasks by dataset name: the class family a registered dataset's tasks are written in, and the `Task` of a
(dataset, task, step), with errors that list what exists. The tables themselves are in `class_orders.py`, which
the dataset modules use without looking a dataset up.
"""

from __future__ import annotations

from wilss.data.class_orders import TASKS, VOC_CLASSES, VOC_TO_COCO, Task
from wilss.data.datasets import DATASETS
from wilss.errors import WilssError

__all__ = ["Task", "VOC_CLASSES", "VOC_TO_COCO", "class_family", "get_task"]


def class_family(dataset: str) -> str:
    """The class ids a dataset's tasks are written in (its registered `DatasetSpec.classes`)."""
    return DATASETS.get(dataset).classes


def get_task(dataset: str, name: str, step: int) -> Task:
    """Look a task up, with an error that lists what exists."""
    family = class_family(dataset)
    tasks = TASKS[family]
    if name not in tasks:
        raise WilssError(
            f"unknown task '{name}' for dataset '{dataset}' (option task=...); "
            f"choose one of {sorted(tasks)}."
        )
    steps = tasks[name]
    if not 0 <= step < len(steps):
        raise WilssError(
            f"step={step} is out of range for task '{name}', which has steps 0..{len(steps) - 1} "
            f"(option step=...)."
        )
    return Task(dataset=dataset, name=name, steps=steps, step=step, family=family)

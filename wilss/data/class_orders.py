"""Class orders of the incremental tasks (docs/method.md, "Tasks and data").

A task splits a family's classes into steps. The *order* of a task is the concatenation of its steps; a class's
training label (its channel in the model) is its position in that order, so class ids and labels differ whenever
the order is not the identity (COCO-to-VOC).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)

# COCO category ids (after COCO-Stuff relabelling: thing id i -> i + 1) of the 60 non-VOC classes and of the
# 20 VOC classes, in the order WILSON uses (COCO-id order inside each step).
COCO_BASE_IDS = (
    8, 10, 11, 13, 14, 15, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 46, 47, 48,
    49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 65, 70, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86,
    87, 88, 89, 90,
)
COCO_VOC_IDS = (1, 2, 3, 4, 5, 6, 7, 9, 16, 17, 18, 19, 20, 21, 44, 62, 63, 64, 67, 72)

# VOC class id -> COCO id (data/make_cocovoc.py); used to relabel VOC masks for COCO-to-VOC step 1.
VOC_TO_COCO = {
    0: 0, 1: 5, 2: 2, 3: 16, 4: 9, 5: 44, 6: 6, 7: 3, 8: 17, 9: 62, 10: 21, 11: 67, 12: 18, 13: 19, 14: 4,
    15: 1, 16: 64, 17: 20, 18: 63, 19: 7, 20: 72, 255: 255,
}


def _voc_range(first: int, last: int) -> tuple[int, ...]:
    return tuple(range(first, last + 1))


def _voc_single_steps(base_last: int, step_size: int) -> tuple[tuple[int, ...], ...]:
    """Steps of `step_size` classes after a base step of classes 0..base_last."""
    steps = [(0,) + _voc_range(1, base_last)]
    for first in range(base_last + 1, 21, step_size):
        steps.append(_voc_range(first, min(first + step_size - 1, 20)))
    return tuple(steps)


# class family (DatasetSpec.classes) -> task -> class ids of each step
TASKS: dict[str, dict[str, tuple[tuple[int, ...], ...]]] = {
    "voc": {
        "15-5": _voc_single_steps(15, 5),
        "10-10": _voc_single_steps(10, 10),
        "15-1": _voc_single_steps(15, 1),
        "10-2": _voc_single_steps(10, 2),
        "10-5": _voc_single_steps(10, 5),
        "19-1": _voc_single_steps(19, 1),
        "offline": (_voc_range(0, 20),),
    },
    "coco": {
        "voc": ((0,) + COCO_BASE_IDS, COCO_VOC_IDS),
    },
}


@dataclass(frozen=True)
class Task:
    """One incremental task of one dataset, seen from step `step`."""

    dataset: str
    name: str
    steps: tuple[tuple[int, ...], ...]
    step: int
    family: str  # the class ids its steps are written in (TASKS' key, the dataset's `DatasetSpec.classes`)

    @property
    def num_steps(self) -> int:
        return len(self.steps)

    @property
    def order(self) -> tuple[int, ...]:
        """Class ids seen up to the current step, in label order (label = index)."""
        return tuple(c for s in self.steps[: self.step + 1] for c in s)

    @property
    def classes_per_step(self) -> list[int]:
        """Model classifier sizes up to the current step (background counted in step 0)."""
        return [len(s) for s in self.steps[: self.step + 1]]

    @property
    def new_classes(self) -> tuple[int, ...]:
        """Class ids learned at the current step (step 0 includes background)."""
        return self.steps[self.step]

    @property
    def old_classes(self) -> tuple[int, ...]:
        """Class ids learned before the current step, background included."""
        return tuple(c for s in self.steps[: self.step] for c in s)

    @property
    def future_classes(self) -> tuple[int, ...]:
        return tuple(c for s in self.steps[self.step + 1 :] for c in s)

    @property
    def num_old(self) -> int:
        return len(self.old_classes)

    def merged(self) -> "Task":
        """All classes seen so far as one step 0 (the joint baseline's training labels and images)."""
        return replace(self, steps=(self.order, *self.steps[self.step + 1:]), step=0)

    def class_names(self) -> list[str]:
        """Names in label order (VOC names; COCO ids as 'coco<id>' unless the dataset names them)."""
        if self.family == "voc":
            return [VOC_CLASSES[c] for c in self.order]
        return ["background" if c == 0 else f"coco{c}" for c in self.order]

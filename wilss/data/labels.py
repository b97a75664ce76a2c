"""From raw mask ids to training targets: label lookup tables and image-level vectors (docs/method.md, "Tasks and data")."""

from __future__ import annotations

import numpy as np

from wilss.data.tasks import Task

IGNORE = 255


def label_lut(task: Task, train: bool, void_as_background: bool = True) -> np.ndarray:
    """A 256-entry table mapping raw mask ids to labels (positions in the task order).

    Train masks keep background and the current step's classes only; old and future classes become background
    (the weak steps never read pixel labels, so this only matters for step 0 and the fully supervised
    baselines). `void_as_background` reproduces the original's 255 -> 0 in training (MiB heritage; docs/fidelity.md).
    Evaluation masks keep every class seen so far, future classes become background and void stays ignored.
    """
    lut = np.zeros(256, dtype=np.uint8)
    kept = set(task.order) if not train else {0, *task.new_classes}
    for position, class_id in enumerate(task.order):
        if class_id in kept:
            lut[class_id] = position
    lut[IGNORE] = 0 if (train and void_as_background) else IGNORE
    return lut


def image_label_matrix(presence: np.ndarray, task: Task, train: bool) -> np.ndarray:
    """Image-level multi-hot vectors in task order without background: column k-1 <-> label k.

    `presence` is the (N, 256) boolean matrix of raw ids present in each full mask. In training only the
    current step's classes are kept ("image-level labels of new classes only"); evaluation keeps all.
    """
    order = np.asarray(task.order[1:], dtype=np.int64)
    labels = presence[:, order].astype(np.float32)
    if train:
        current = np.isin(order, np.asarray(task.new_classes))
        labels[:, ~current] = 0.0
    return labels


def step_subset(presence: np.ndarray, task: Task, overlap: bool) -> np.ndarray:
    """Indices of the training images of the current step (docs/method.md, "Tasks and data").

    An image qualifies when it shows at least one class learned at this step (background does not count).
    In the disjoint setting it must also show no class of a future step; in the overlap setting future
    classes may appear (and are trained as background). At the last step both settings coincide.
    """
    current = [c for c in task.new_classes if c != 0]
    keep = presence[:, current].any(axis=1)
    if not overlap and task.future_classes:
        keep &= ~presence[:, list(task.future_classes)].any(axis=1)
    return np.flatnonzero(keep)

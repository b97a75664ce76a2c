"""Metrics against hand-computed confusion matrices."""

import pytest
import torch

from wilss.metrics import ConfusionMatrix, markdown_table, summarize


def test_confusion_matrix_counts_and_ignores_void():
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 255]])
    prediction = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 1]])
    m = ConfusionMatrix(3)
    m.update(target, prediction)
    assert m.matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    iou = m.iou()
    assert iou[0] == pytest.approx(1 / 3, abs=1e-6)   # tp 1, fn 1, fp 1
    assert iou[1] == pytest.approx(2 / 3, abs=1e-6)   # tp 2, fp 1
    assert iou[2] == pytest.approx(1 / 2, abs=1e-6)   # tp 1, fn 1


def test_absent_classes_are_left_out_of_the_means():
    m = ConfusionMatrix(4)
    m.update(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0, 1, 3]))
    iou = m.iou()
    assert iou[2] is None and iou[3] is None
    summary = summarize(iou, num_old=2, class_names=["bg", "a", "b", "c"])
    assert summary["miou_all"] == pytest.approx((1 + 0.5) / 2, abs=1e-6)
    assert summary["miou_new"] is None


def test_old_new_exclude_background_and_all_includes_it():
    iou = [0.9, 0.8, 0.6, 0.3, 0.1]
    summary = summarize(iou, num_old=3, class_names=list("abcde"))
    assert summary["miou_old"] == pytest.approx(0.7)
    assert summary["miou_new"] == pytest.approx(0.2)
    assert summary["miou_all"] == pytest.approx(0.54)


def test_markdown_table_is_in_percent():
    table = markdown_table([{"run": "x", "step": 1, "miou_old": 0.736, "miou_new": 0.438, "miou_all": 0.673}],
                           "1-15", "16-20")
    assert "| x | 1 | 73.6 | 43.8 | 67.3 |" in table

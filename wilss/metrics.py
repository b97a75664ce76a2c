"""Segmentation metrics as the papers report them (docs/method.md, "Evaluation"), and their files.

IoU per class from a confusion matrix; mean IoU over the classes present in the ground truth; the paper's
groups: "old" and "new" exclude background, "all" includes it.
"""

from __future__ import annotations

import csv
import json
import math

import torch

from wilss.layout import StepLayout


class ConfusionMatrix:
    """Rows = ground truth, columns = prediction, over labels 0..n-1; other labels (255) are ignored."""

    def __init__(self, num_classes: int, device: torch.device | str = "cpu") -> None:
        self.num_classes = num_classes
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, target: torch.Tensor, prediction: torch.Tensor) -> None:
        n = self.num_classes
        valid = (target >= 0) & (target < n)
        flat = target[valid].long() * n + prediction[valid].long()
        self.matrix += torch.bincount(flat, minlength=n * n).view(n, n)

    def iou(self) -> list[float | None]:
        """IoU per class; None for classes absent from the ground truth (the original's 'X')."""
        m = self.matrix.double().cpu()
        tp = m.diag()
        gt, pred = m.sum(1), m.sum(0)
        iou = tp / (gt + pred - tp + 1e-6)
        return [float(v) if g > 0 else None for v, g in zip(iou, gt)]

    def pixel_accuracy(self) -> float:
        m = self.matrix.double()
        return float(m.diag().sum() / m.sum().clamp(min=1))


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def summarize(iou: list[float | None], num_old: int, class_names: list[str]) -> dict:
    """The paper's numbers: old = labels 1..num_old-1, new = labels num_old.., all = every label (bg included).

    At step 0 there are no old classes: `miou_old` is the mean over the step-0 classes without background
    and `miou_new` is None.
    """
    if num_old == 0:
        old, new = iou[1:], []
    else:
        old, new = iou[1:num_old], iou[num_old:]
    return {
        "miou_old": _mean(old),
        "miou_new": _mean(new),
        "miou_all": _mean(iou),
        "per_class_iou": dict(zip(class_names, iou)),
    }


def _pct(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def markdown_table(rows: list[dict], old_label: str, new_label: str) -> str:
    """A table in the paper's format: one row per result, mIoU % for old / new / all."""
    lines = [f"| run | step | {old_label} | {new_label} | all |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['run']} | {row['step']} | {_pct(row['miou_old'])} | {_pct(row['miou_new'])} | "
                     f"{_pct(row['miou_all'])} |")
    return "\n".join(lines)


def write_results(step: StepLayout, results: dict) -> None:
    """results.json (everything), results.csv (one row per evaluation set and class)."""
    step.dir.mkdir(parents=True, exist_ok=True)
    step.results.write_text(json.dumps(results, indent=2))
    with open(step.results_csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["set", "class", "iou"])
        for set_name, summary in results["sets"].items():
            for name, value in summary["per_class_iou"].items():
                writer.writerow([set_name, name, "" if value is None else f"{value:.6f}"])
            for key in ("miou_old", "miou_new", "miou_all"):
                value = summary[key]
                writer.writerow([set_name, key, "" if value is None else f"{value:.6f}"])


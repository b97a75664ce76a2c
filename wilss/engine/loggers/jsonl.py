"""Scalars as JSON lines in `<step dir>/metrics.jsonl`: one object per group the hooks log (losses and lr,
throughput, validation mIoU), `{"step": <global iteration>, "<name>": <value>, ...}`, flushed as it is written,
for tools without TensorBoard (`pandas.read_json(path, lines=True)`, `jq`). An image is one line with its name
and shape, not its pixels."""

from __future__ import annotations

import json

import torch

from wilss.atomic import atomic_write_bytes
from wilss.engine.loggers.registry import LOGGERS
from wilss.layout import StepLayout


def kept_lines(text: str, resumed_after: int | None) -> list[str]:
    """The lines a step resumed after global iteration `resumed_after` keeps: those up to it (the iterations
    after it run again, as TensorBoard's purge_step drops them); none for a fresh start. A line cut short by a
    killed process is dropped."""
    if resumed_after is None:
        return []
    kept = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= resumed_after:
            kept.append(line)
    return kept


class JsonlLogger:
    def __init__(self, files: StepLayout, resumed_after: int | None = None) -> None:
        self.path = files.metrics_jsonl
        if self.path.is_file():
            previous = self.path.read_text()
            kept = "".join(f"{line}\n" for line in kept_lines(previous, resumed_after))
            if kept != previous:  # replaced in one move: a crash now leaves the old lines or the kept ones
                atomic_write_bytes(self.path, lambda handle: handle.write(kept.encode()))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a")

    def _write(self, record: dict) -> None:
        self.handle.write(json.dumps(record, default=float) + "\n")
        self.handle.flush()

    def scalars(self, values: dict[str, float], step: int) -> None:
        if values:
            self._write({"step": step, **values})

    def image(self, name: str, image: torch.Tensor, step: int) -> None:
        self._write({"step": step, "image": name, "shape": list(image.shape)})

    def close(self) -> None:
        self.handle.close()


LOGGERS.register("jsonl")(JsonlLogger)

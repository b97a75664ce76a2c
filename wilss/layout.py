"""Where every file of a run lives: the one place that spells the layout of a run directory.

    <run dir>/results.md                      the papers' table of the chain
    <run dir>/jobs/<job id>/                  submitit's job files
    <run dir>/step<t>/config.yaml             the resolved configuration of step t
    <run dir>/step<t>/train.log               progress lines, appended across restarts
    <run dir>/step<t>/manifest.json           job ids, state, restarts (the launch layer's record)
    <run dir>/step<t>/checkpoints/last.pt     full resume state (+ last.json, its metadata)
    <run dir>/step<t>/checkpoints/final.pt    weights after the last epoch: the input of step t+1 (+ final.json)
    <run dir>/step<t>/results.{json,csv,md}   the step's evaluation
    <run dir>/step<t>/tensorboard/            scalars and image panels
    <run dir>/step<t>/metrics.jsonl           scalars, one JSON object a line (train.loggers=[jsonl])

    <sweep dir>/sweep.json                    every point of a sweep: its values, overrides, chain length, step-0 key
    <sweep dir>/points/<point>/               a point's run directory (its step0 links into shared/)
    <sweep dir>/shared/step0-<key>/           the run directory of one step 0 that several points share
    <sweep dir>/report/report.md              the sweep's report (and its csv, json, tex, figures)
    <sweep dir>/jobs/<job id>/                submitit's files of the sweep's job arrays

Plain paths only (no torch, no config), so the launch layer and `wilss status` use it on a login node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

STEP_FOLDER = re.compile(r"step(\d+)")


def sidecar(checkpoint: Path) -> Path:
    """The JSON metadata written next to a checkpoint: `final.pt` -> `final.json`."""
    return Path(checkpoint).with_suffix(".json")


@dataclass(frozen=True)
class StepLayout:
    """The files of one incremental step."""

    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "config.yaml"

    @property
    def train_log(self) -> Path:
        return self.dir / "train.log"

    @property
    def manifest(self) -> Path:
        return self.dir / "manifest.json"

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def final(self) -> Path:
        return self.checkpoints / "final.pt"

    @property
    def results(self) -> Path:
        return self.dir / "results.json"

    @property
    def results_csv(self) -> Path:
        return self.dir / "results.csv"

    @property
    def results_table(self) -> Path:
        return self.dir / "results.md"

    @property
    def tensorboard(self) -> Path:
        return self.dir / "tensorboard"

    @property
    def metrics_jsonl(self) -> Path:
        return self.dir / "metrics.jsonl"

    def finished(self) -> bool:
        """Trained and evaluated: the final weights and their results exist."""
        return self.final.is_file() and self.results.is_file()


@dataclass(frozen=True)
class RunLayout:
    """The files of one run: a chain of steps of one task."""

    root: Path

    def step(self, step: int) -> StepLayout:
        return StepLayout(self.root / f"step{step}")

    @property
    def results_table(self) -> Path:
        return self.root / "results.md"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    def existing_steps(self) -> list[tuple[int, StepLayout]]:
        """(step, its layout) of every step folder present, in step order."""
        found = []
        if self.root.is_dir():
            for path in self.root.iterdir():
                match = STEP_FOLDER.fullmatch(path.name)
                if match and path.is_dir():
                    found.append((int(match.group(1)), StepLayout(path)))
        return sorted(found, key=lambda item: item[0])


@dataclass(frozen=True)
class SweepLayout:
    """The files of a sweep (`wilss.sweep`): a run directory per point and per shared step 0, and the report."""

    root: Path

    @property
    def sweep_file(self) -> Path:
        return self.root / "sweep.json"

    def point(self, name: str) -> RunLayout:
        return RunLayout(self.root / "points" / name)

    def shared(self, key: str) -> RunLayout:
        return RunLayout(self.root / "shared" / f"step0-{key}")

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def report_markdown(self) -> Path:
        return self.report / "report.md"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

"""Recorded results of named chains (`wilss/expected.yaml`): what the demo and CI's learning guard measured on the
project's machine, with the commit, the machine and the command. A chain whose config names one (`expected=demo`,
set by `experiment=demo`) prints the recorded table beside its own at the end and says whether it is within the
recorded tolerance, so a user sees at once whether their install learns as the kit's does.
`scripts/record_results.py` writes an entry from a finished run; nothing else edits the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from wilss.errors import WilssError

RECORDS = Path(__file__).with_name("expected.yaml")
COLUMNS = ("old", "new", "all")
# Overrides that change where a run goes or how it is read, never what it learns (workers, logging: results do
# not depend on them, README "DDP").
NEUTRAL_KEYS = ("dataset.root", "dataset.cache_dir", "output_root", "run_dir", "name", "expected",
                "train.num_workers", "train.log_interval", "train.loggers", "train.image_panels", "train.device",
                "step")  # a chain's jobs each name their own step; the chain is the same


@dataclass(frozen=True)
class Expected:
    name: str
    command: tuple[str, ...]                       # the overrides of `wilss chain` it was recorded with
    steps: dict[int, dict[str, float | None]]      # step -> {old, new, all} in mIoU %
    tolerance: float                               # mIoU points a run may differ by (bf16 and thread noise)
    commit: str
    machine: str
    minutes: float

    def differing_overrides(self, overrides: list[str]) -> list[str]:
        """The overrides of a run, and the recorded ones it lacks, that may change what it learns."""
        def relevant(items):
            return {item for item in items if item.split("=", 1)[0].lstrip("+~") not in NEUTRAL_KEYS}
        ours, theirs = relevant(overrides), relevant(self.command)
        return sorted(ours ^ theirs)


def read_records(path: Path = RECORDS) -> dict[str, dict]:
    return yaml.safe_load(path.read_text()) or {}


def load_expected(name: str, path: Path = RECORDS) -> Expected:
    records = read_records(path)
    if name not in records:
        raise WilssError(f"expected={name}: no recorded results of that name in '{path}' (recorded: "
                         f"{', '.join(sorted(records)) or 'none'}). Choose one of them or expected=null.")
    entry = records[name]
    return Expected(name, tuple(entry["command"]), {int(step): dict(row) for step, row in entry["steps"].items()},
                    float(entry["tolerance"]), entry["commit"], entry["machine"], float(entry["minutes"]))


def measured_steps(results: list[dict]) -> dict[int, dict[str, float | None]]:
    """{step: {old, new, all}} in mIoU % (one decimal, as the tables print) from the steps' results.json."""
    def pct(value):
        return None if value is None else round(100 * value, 1)
    return {r["step"]: {column: pct(r["sets"]["val"][f"miou_{column}"]) for column in COLUMNS} for r in results}


def deviations(expected: Expected, measured: dict[int, dict[str, float | None]]) -> dict[tuple[int, str], float]:
    """measured − recorded, per (step, column) recorded with a number."""
    return {(step, column): (measured.get(step, {}).get(column) or 0.0) - value
            for step, row in expected.steps.items() for column, value in row.items() if value is not None}


def within_tolerance(expected: Expected, measured: dict[int, dict[str, float | None]]) -> bool:
    return all(abs(delta) <= expected.tolerance for delta in deviations(expected, measured).values())


def above_floors(expected: Expected, measured: dict[int, dict[str, float | None]]) -> bool:
    """No column lower than recorded − tolerance: what CI's learning guard asks (learning more is no failure)."""
    return all(delta >= -expected.tolerance for delta in deviations(expected, measured).values())


def comparison_table(expected: Expected, measured: dict[int, dict[str, float | None]]) -> str:
    """Recorded and measured side by side, with the difference, one row per step and column."""
    lines = ["| step | mIoU | recorded | measured | difference |", "|---|---|---|---|---|"]
    delta = deviations(expected, measured)
    for step, row in sorted(expected.steps.items()):
        for column, value in row.items():
            if value is None:
                continue
            got = measured.get(step, {}).get(column)
            lines.append(f"| {step} | {column} | {value:.1f} | {'–' if got is None else f'{got:.1f}'} | "
                         f"{delta[step, column]:+.1f} |")
    return "\n".join(lines)


def verdict(expected: Expected, measured: dict[int, dict[str, float | None]], overrides: list[str]) -> str:
    """What a chain prints at its end: the recorded table beside this run's, and whether it is within tolerance."""
    source = (f"recorded for `wilss chain {' '.join(expected.command)}` at commit {expected.commit} on "
              f"{expected.machine}, tolerance ±{expected.tolerance:g} mIoU points")
    differing = expected.differing_overrides(overrides)
    if differing:
        return (f"Expected results '{expected.name}' ({source}) are not compared: this run differs in "
                f"{', '.join(differing)}.")
    table = comparison_table(expected, measured)
    if within_tolerance(expected, measured):
        return f"{table}\n\nWithin tolerance of the expected results ({source}): this install learns as the kit's does."
    return (f"{table}\n\nOUTSIDE the tolerance of the expected results ({source}). This install does not learn as "
            "the kit's does: check `wilss doctor`, the torch version and the data, and report it with train.log.")

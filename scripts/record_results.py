"""Record a finished chain as expected results: the only way the numbers of wilss/expected.yaml (and of the demo's
docs/demo_results.md, whose table the README shows) change. Run it on a finished run directory of the recorded
command, from a clean checkout, and say in the commit why the numbers moved.

    python scripts/record_results.py demo outputs/synthetic-15-5/demo --tolerance 4 -- experiment=demo
    python scripts/record_results.py guard RUN_DIR --tolerance 8 -- experiment=guard

The entry holds the command, each step's old / new / all mIoU (%), the tolerance, the commit, the machine and the
chain's wall time (from the first to the last line of the steps' train.log).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from datetime import datetime
from pathlib import Path

import torch
import yaml

from wilss.engine.precision import cpu_has_native_bf16
from wilss.expected import RECORDS, load_expected, measured_steps, read_records

REPO = Path(__file__).resolve().parents[1]
DEMO_DOC = REPO / "docs" / "demo_results.md"
HEADER = """\
# Recorded results of named chains, written by scripts/record_results.py from a finished run (never by hand).
# `wilss chain` compares its table with the entry its config names (`expected=`); CI's learning guard
# (tests/test_learning_guard.py) fails when a column falls more than `tolerance` mIoU points below its entry.
"""


def step_results(run_dir: Path) -> list[dict]:
    steps = sorted(run_dir.glob("step*/results.json"), key=lambda path: int(path.parent.name[4:]))
    if not steps:
        raise SystemExit(f"{run_dir}: no step*/results.json; run the chain to its end first")
    return [json.loads(path.read_text()) for path in steps]


def wall_minutes(run_dir: Path) -> float:
    stamps = []
    for log in run_dir.glob("step*/train.log"):
        for line in log.read_text().splitlines():
            try:
                stamps.append(datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))
            except ValueError:
                continue
    return round((max(stamps) - min(stamps)).total_seconds() / 60, 1)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    isa = torch.backends.cpu.get_cpu_capability()
    return (f"{os.cpu_count()} × {cpu} CPU cores ({isa}, {'with' if cpu_has_native_bf16() else 'no'} bf16 "
            f"instructions), torch {torch.__version__}")


def commit() -> str:
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.strip()
    return f"{sha}{'+changes' if dirty else ''}"


def demo_doc(name: str) -> str:
    expected = load_expected(name)
    rows = [f"| {expected.name} | {step} | " + " | ".join("–" if row[c] is None else f"{row[c]:.1f}"
                                                        for c in ("old", "new", "all")) + " |"
            for step, row in sorted(expected.steps.items())]
    return "\n".join([
        "# The demo's results",
        "",
        f"`wilss chain {' '.join(expected.command)}` (what `make demo` runs), recorded by "
        "`scripts/record_results.py` from a finished run; mIoU % on the synthetic validation set.",
        "",
        f"- commit: {expected.commit}",
        f"- machine: {expected.machine}",
        f"- wall time: {expected.minutes:g} minutes for both steps",
        f"- tolerance: ±{expected.tolerance:g} mIoU points (what `make demo` accepts as the same result)",
        "",
        "| run | step | old | new | all |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--tolerance", type=float, required=True)
    parser.add_argument("--commit", help="the commit whose code trained the run (default: HEAD)")
    parser.add_argument("command", nargs="+", help="the overrides of the recorded `wilss chain` (after --)")
    args = parser.parse_args()
    records = read_records() if RECORDS.exists() else {}
    records[args.name] = {
        "command": args.command,
        "steps": measured_steps(step_results(args.run_dir)),
        "tolerance": args.tolerance,
        "commit": args.commit or commit(),
        "machine": machine(),
        "minutes": wall_minutes(args.run_dir),
    }
    RECORDS.write_text(HEADER + yaml.safe_dump(records, sort_keys=False, allow_unicode=True))
    if args.name == "demo":
        DEMO_DOC.write_text(demo_doc("demo"))
    print(yaml.safe_dump({args.name: records[args.name]}, sort_keys=False, allow_unicode=True))


if __name__ == "__main__":
    main()

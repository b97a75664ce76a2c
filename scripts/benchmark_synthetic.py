"""WILSON vs its baselines on the synthetic dataset, in the format of the paper's Table 1 (CPU, small model).

    python scripts/benchmark_synthetic.py [--out outputs/benchmark] [--doc docs/benchmark_synthetic.md]

For VOC-style 15-5 and 10-10, disjoint and overlap: step 0 once (pixel labels, background + old classes),
then step 1 three ways from it — WILSON, `ft` (image labels without the old model) and `joint` (pixel labels
for every class, the upper bound). Writes a markdown table of old / new / all mIoU, the acceptance ratios
and the runtime, plus the same numbers as JSON. Finished runs are reused, so an interrupted benchmark resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from wilss import distributed
from wilss.config import load_config
from wilss.errors import exit_on_user_error
from wilss.train import main as train_step

SETTINGS = [("15-5", False), ("15-5", True), ("10-10", False), ("10-10", True)]
METHODS = ("joint", "ft", "wilson")


def run(overrides: list[str]) -> dict:
    return train_step(load_config(overrides))["sets"]["val"]


def benchmark_setting(base: list[str], out: Path, task: str, overlap: bool) -> dict:
    root = out / f"{task}{'-ov' if overlap else ''}"
    common = [*base, f"task={task}", f"overlap={str(overlap).lower()}"]
    step0 = run([*common, "step=0", f"run_dir={root / 'base'}"])
    step0_ckpt = root / "base" / "step0" / "checkpoints" / "final.pt"
    step1 = {}
    for method in METHODS:
        # Joint training at the last step sees the same images in both settings (no future classes remain), so
        # disjoint and overlap share one run, as the paper's tables share one Joint row.
        method_dir = out / task / "joint" if method == "joint" else root / method
        step1[method] = run([*common, "step=1", f"method={method}", f"run_dir={method_dir}", f"step_ckpt={step0_ckpt}"])
    return {"step0": step0, "step1": step1}


LOG_TIME = "%Y-%m-%d %H:%M:%S"
MAX_GAP_S = 300  # a longer silence in a train.log is a run that was stopped and later resumed


def logged_seconds(train_log: Path) -> float:
    """Time a run spent working, from its log's timestamps: the span of each stretch without a long silence,
    summed, so a run interrupted and resumed later (the benchmark reuses and resumes runs) counts only once."""
    stamps = []
    for line in train_log.read_text().splitlines():
        try:
            stamps.append(time.mktime(time.strptime(line[:19], LOG_TIME)))
        except ValueError:
            continue
    return sum(b - a for a, b in zip(stamps, stamps[1:]) if b - a <= MAX_GAP_S)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def ratios(result: dict) -> dict:
    """The acceptance ratios of the WILSON issue, per setting."""
    s1, wilson = result["step1"], result["step1"]["wilson"]
    return {
        "wilson_old_over_step0_old": wilson["miou_old"] / result["step0"]["miou_old"],
        "wilson_new_over_joint_new": wilson["miou_new"] / s1["joint"]["miou_new"],
        "ft_old_over_wilson_old": s1["ft"]["miou_old"] / wilson["miou_old"],
    }


def render(results: dict, seconds: float, overrides: list[str]) -> str:
    settings = list(results)
    header = "| method | " + " | ".join(f"{s} old | {s} new | {s} all" for s in settings) + " |"
    lines = [header, "|---|" + "---|" * (3 * len(settings))]
    step0 = " | ".join(f"{pct(results[s]['step0']['miou_old'])} | – | {pct(results[s]['step0']['miou_all'])}"
                       for s in settings)
    lines.append(f"| step 0 (before step 1) | {step0} |")
    for method in METHODS:
        cells = " | ".join(" | ".join(pct(results[s]["step1"][method][k]) for k in ("miou_old", "miou_new", "miou_all"))
                           for s in settings)
        lines.append(f"| {method} | {cells} |")
    ratio_lines = ["| setting | WILSON old / step-0 old (≥ 0.85) | WILSON new / joint new (≥ 0.50) | "
                   "ft old / WILSON old (≤ 0.50) |", "|---|---|---|---|"]
    for s in settings:
        r = ratios(results[s])
        ratio_lines.append(f"| {s} | {r['wilson_old_over_step0_old']:.2f} | {r['wilson_new_over_joint_new']:.2f} | "
                           f"{r['ft_old_over_wilson_old']:.2f} |")
    return "\n".join([
        "# Synthetic benchmark: WILSON vs baselines",
        "",
        "Produced by `python scripts/benchmark_synthetic.py` on the CPU. mIoU % on the synthetic val set after "
        "step 1 (old = classes 1–15 or 1–10 without background, new = 16–20 or 11–20, all = every class with "
        "background), disjoint (D) and overlap (-ov) settings, as in the paper's Tables 1–2.",
        "",
        *lines,
        "",
        "Acceptance ratios:",
        "",
        *ratio_lines,
        "",
        f"Runtime: {seconds / 60:.1f} minutes of training and evaluation on this machine (2 CPU cores), summed over "
        "the runs from their logs (runs are reused and resumed, so one invocation may not see them all; other jobs "
        "may have shared the cores). "
        f"Overrides: `{' '.join(overrides)}`.",
        "",
    ])


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmark"), help="run directories")
    parser.add_argument("--doc", type=Path, default=Path("docs/benchmark_synthetic.md"), help="markdown report")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = parser.parse_args()
    base = ["experiment=benchmark", f"output_root={args.out}", *args.overrides]
    try:
        results = {f"{task}{' O' if overlap else ' D'}": benchmark_setting(base, args.out, task, overlap)
                   for task, overlap in SETTINGS}
    finally:
        distributed.shutdown()
    seconds = sum(logged_seconds(log) for log in sorted(set(args.out.glob("*/*/step*/train.log"))))
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(render(results, seconds, base))
    summary = {"results": results, "ratios": {s: ratios(r) for s, r in results.items()}, "seconds": seconds,
               "overrides": base}
    args.doc.with_suffix(".json").write_text(json.dumps(summary, indent=2))
    print(args.doc.read_text())


if __name__ == "__main__":
    main()

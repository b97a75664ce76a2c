"""WILSON vs its baselines on the synthetic dataset, in the format of the paper's Table 1 (CPU, small model), and
Web-WILSS's caption-driven replay on top of WILSON.

    python scripts/benchmark_synthetic.py [--out outputs/benchmark] [--doc docs/benchmark_synthetic.md]
                                          [--parts table1,web] [--web-sources N] [OVERRIDE ...]

Part `table1`: for VOC-style 15-5 and 10-10, disjoint and overlap: step 0 once (pixel labels, background + old
classes), then step 1 three ways from it — WILSON, `ft` (image labels without the old model) and `joint` (pixel
labels for every class, the upper bound).
Part `web`: for 15-5 overlap, from the same step-0 checkpoint and dataset: synthetic web data, then the offline
replay pipeline as a user runs it (`python -m wilss.web captions`, `select-replay --mode semantic`,
`pseudo-label` with the step-0 model), then WILSON's step 1 with `replay.enabled=true`, all else as the WILSON run.
Writes a markdown report of old / new / all mIoU, the acceptance ratios and the runtimes, plus the same numbers
as JSON. Finished runs are reused, so an interrupted benchmark resumes.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from contextlib import contextmanager
from pathlib import Path

from wilss import distributed
from wilss.config import load_config
from wilss.errors import WilssError, exit_on_user_error
from wilss.layout import RunLayout
from wilss.synthetic.web import PARAMS_FILE, TRUTH_FILE, ensure_synthetic_web
from wilss.train import main as train_step
from wilss.web.__main__ import main as web_command
from wilss.web.manifest import read_manifest

SETTINGS = [("15-5", False), ("15-5", True), ("10-10", False), ("10-10", True)]
METHODS = ("joint", "ft", "wilson")
PARTS = ("table1", "web")

# The Web-WILSS part: 15-5 overlap (the released pre-selected replay data exist for overlap settings only).
WEB_TASK, WEB_OVERLAP = "15-5", True
WEB_SOURCES = 200      # dataset training images whose captions retrieve web images (the first of the list)
WEB_PER_SOURCE = 6     # web images retrieved per caption (the paper: about 20)
REPLAY_NUM = 2         # replay.num: images per source folder, as the released README


def run(overrides: list[str]) -> dict:
    return train_step(load_config(overrides))["sets"]["val"]


def setting_dir(out: Path, task: str, overlap: bool) -> Path:
    return out / f"{task}{'-ov' if overlap else ''}"


def setting_label(task: str, overlap: bool) -> str:
    return f"{task} {'O' if overlap else 'D'}"


def setting_overrides(base: list[str], task: str, overlap: bool) -> list[str]:
    return [*base, f"task={task}", f"overlap={str(overlap).lower()}"]


def step0_checkpoint(root: Path) -> Path:
    return RunLayout(root / "base").step(0).final


def table1_run_dirs(out: Path, task: str, overlap: bool) -> dict[str, Path]:
    """Run directory of step 0 and of every step-1 method of one setting."""
    root = setting_dir(out, task, overlap)
    # Joint training at the last step sees the same images in both settings (no future classes remain), so
    # disjoint and overlap share one run, as the paper's tables share one Joint row.
    return {"base": root / "base", **{m: out / task / "joint" if m == "joint" else root / m for m in METHODS}}


def benchmark_setting(base: list[str], out: Path, task: str, overlap: bool) -> dict:
    common = setting_overrides(base, task, overlap)
    dirs = table1_run_dirs(out, task, overlap)
    step0 = run([*common, "step=0", f"run_dir={dirs['base']}"])
    ckpt = step0_checkpoint(setting_dir(out, task, overlap))
    step1 = {m: run([*common, "step=1", f"method={m}", f"run_dir={dirs[m]}", f"step_ckpt={ckpt}"]) for m in METHODS}
    return {"step0": step0, "step1": step1}


# --------------------------------------------------------------------------------------------------------------
# Web-WILSS part
# --------------------------------------------------------------------------------------------------------------

def recorded_or_run(overrides: list[str], run_dir: Path, step: int) -> dict:
    """The val results a finished run recorded, read without touching the run (the web part must leave the
    table-1 runs as they are); a run that has not finished is trained first."""
    files = RunLayout(run_dir).step(step)
    if files.finished():
        return json.loads(files.results.read_text())["sets"]["val"]
    return run(overrides)


@contextmanager
def timed(seconds: dict, stage: str):
    start = time.perf_counter()
    yield
    seconds[stage] = time.perf_counter() - start


def replay_selection_precision(web_root: Path, selection: Path) -> float:
    """Share of the selected replay images that show a class of their source image (from truth.json, which the
    commands never read)."""
    truth = json.loads((web_root / TRUTH_FILE).read_text())
    images = [line.split()[1] for line in selection.read_text().splitlines() if line.strip()]
    return sum(not truth[image]["distractor"] for image in images) / max(len(images), 1)


def refuse_stale_replay_run(web: Path, replay_run: Path, wanted: dict) -> None:
    """A finished WILSON + replay run is reused as it is, so its web data must be the one asked for now."""
    params = web / PARAMS_FILE
    if not (params.is_file() and RunLayout(replay_run).step(1).final.is_file()):
        return
    recorded = json.loads(params.read_text())
    changed = {key: (recorded.get(key), value) for key, value in wanted.items() if recorded.get(key) != value}
    if changed:
        raise WilssError(f"'{replay_run}' finished with the web data in '{web}', drawn with other parameters "
                         f"(recorded, asked): {changed}. Remove both folders or choose another --out.")


def replay_pipeline(dataset_root: Path, size: int, checkpoint: Path, folder: Path, sources: int,
                    replay_run: Path) -> tuple[Path, dict]:
    """Synthetic web data, then the replay commands in the order a user runs them; returns the replay folder and
    what the pipeline kept, with each stage's runtime. Web images are drawn at the dataset's image size."""
    seconds: dict[str, float] = {}
    web, captions, selection, replay = (folder / name for name in ("data", "captions", "selection", "replay"))
    drawing = {"per_class": 1, "per_source": WEB_PER_SOURCE, "sources": sources, "size": size}
    refuse_stale_replay_run(web, replay_run, drawing)
    recorded = (web / PARAMS_FILE).read_text() if (web / PARAMS_FILE).is_file() else None
    with timed(seconds, "synthetic web data"):
        ensure_synthetic_web(web, dataset_root, **drawing)
    if recorded == (web / PARAMS_FILE).read_text():
        seconds["synthetic web data (reused)"] = seconds.pop("synthetic web data")
    with timed(seconds, "captions"):
        web_command(["captions", "--web-root", str(web), "--out", str(captions)])
    with timed(seconds, "select-replay"):
        web_command(["select-replay", "--web-root", str(web), "--captions", str(captions / "captions.tsv"),
                     "--mode", "semantic", "--task", WEB_TASK, "--step", "1", "--out", str(selection)])
    with timed(seconds, "pseudo-label"):
        web_command(["pseudo-label", "--web-root", str(web), "--selection", str(selection / "replay_selection.txt"),
                     "--checkpoint", str(checkpoint), "--out", str(replay)])
    kept = read_manifest(selection)["outputs"]
    stats = {"sources": kept["sources"], "candidates": kept["candidates"], "selected": kept["kept"],
             "selected_showing_a_source_class": replay_selection_precision(web, selection / "replay_selection.txt"),
             "labelled": read_manifest(replay)["outputs"]["images"], "seconds": seconds}
    return replay, stats


def benchmark_web(base: list[str], out: Path, sources: int) -> dict:
    common = setting_overrides(base, WEB_TASK, WEB_OVERLAP)
    root, dirs = setting_dir(out, WEB_TASK, WEB_OVERLAP), table1_run_dirs(out, WEB_TASK, WEB_OVERLAP)
    step0 = recorded_or_run([*common, "step=0", f"run_dir={dirs['base']}"], dirs["base"], 0)
    ckpt = step0_checkpoint(root)
    wilson_args = [*common, "step=1", "method=wilson", f"step_ckpt={ckpt}"]
    wilson = recorded_or_run([*wilson_args, f"run_dir={dirs['wilson']}"], dirs["wilson"], 1)
    dataset = load_config([*common, "step=0"]).dataset
    replay_dir = root / "wilson-replay"
    replay, pipeline = replay_pipeline(Path(dataset.root), dataset.generate.size, ckpt, root / "web", sources,
                                       replay_dir)
    with_replay = run([*wilson_args, f"run_dir={replay_dir}", "replay.enabled=true", f"replay.path={replay}",
                       f"replay.num={REPLAY_NUM}"])
    # Half of every replay batch is replay, so the replay run takes twice WILSON's iterations for the same passes
    # over the step's images: the control gets as many iterations by training twice the epochs.
    train_cfg = load_config(wilson_args)
    longer = [*wilson_args, f"train.epochs_incremental={2 * train_cfg.train.epochs_incremental}",
              f"method.pseudo_ep={2 * train_cfg.method.pseudo_ep}"]
    control_dir = root / "wilson-2x-epochs"
    control = recorded_or_run([*longer, f"run_dir={control_dir}"], control_dir, 1)
    pipeline["web_image_size"] = dataset.generate.size
    iterations = {name: logged_iterations(RunLayout(d).step(1).train_log)
                  for name, d in (("wilson", dirs["wilson"]), ("wilson_2x", control_dir), ("wilson_replay", replay_dir))}
    return {"step0": step0, "wilson": wilson, "wilson_2x": control, "wilson_replay": with_replay,
            "replay": pipeline, "replay_num": REPLAY_NUM, "iterations": iterations,
            "training_seconds": logged_seconds(RunLayout(replay_dir).step(1).train_log)}


# --------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------

LOG_TIME = "%Y-%m-%d %H:%M:%S"
MAX_GAP_S = 300  # a longer silence in a train.log is a run that was stopped and later resumed
INVOCATION_START = re.compile(r"INFO step \d+ of ")  # the first line python -m wilss.train logs


def logged_seconds(train_log: Path) -> float:
    """Time a run spent working, from its log's timestamps: the span of each stretch without a long silence,
    summed, so a run interrupted and resumed later (the benchmark reuses and resumes runs) counts only once. A
    new invocation's first line ("step N of ...") also starts a new stretch: the wait before it is not work."""
    total, previous = 0.0, None
    for line in train_log.read_text().splitlines():
        try:
            stamp = time.mktime(time.strptime(line[:19], LOG_TIME))
        except ValueError:
            continue
        if previous is not None and stamp - previous <= MAX_GAP_S and not INVOCATION_START.match(line[20:]):
            total += stamp - previous
        previous = stamp
    return total


def run_seconds(out: Path) -> dict:
    """Training and evaluation time of part `table1`'s runs, from their logs: per setting and run, and the total
    (the joint run shared by D and O counted once)."""
    per_run, by_dir = {}, {}
    for task, overlap in SETTINGS:
        times = per_run[setting_label(task, overlap)] = {}
        for name, d in table1_run_dirs(out, task, overlap).items():
            times[name] = by_dir[d] = logged_seconds(RunLayout(d).step(0 if name == "base" else 1).train_log)
    return {"per_run": per_run, "total": sum(by_dir.values())}


def logged_iterations(train_log: Path) -> int:
    """Training iterations of a run, from the first line that states its epochs."""
    found = re.search(r"(\d+) iterations per epoch, (\d+) epochs", train_log.read_text())
    return int(found[1]) * int(found[2])


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


def render_runtimes(seconds: dict) -> list[str]:
    per_run = seconds["per_run"]
    lines = ["| run | " + " | ".join(per_run) + " |", "|---|" + "---|" * len(per_run)]
    for name in ("base", *METHODS):
        label = "step 0" if name == "base" else f"step 1, {name}"
        lines.append(f"| {label} | " + " | ".join(f"{runs[name] / 60:.1f}" for runs in per_run.values()) + " |")
    return [
        f"Runtime: {seconds['total'] / 60:.1f} minutes of training and evaluation on this machine (2 CPU cores), "
        "from the runs' logs; minutes per run below (joint: one run per task, shared by D and O). Runs are reused "
        "and resumed across invocations, and other jobs shared the cores during some of them: the shortest run of "
        "each kind is the closest to the cost on an idle machine.",
        "",
        *lines,
    ]


def render_table1(results: dict, seconds: dict) -> list[str]:
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
    return [
        "Part `table1`: mIoU % on the synthetic val set after step 1 (old = classes 1–15 or 1–10 without "
        "background, new = 16–20 or 11–20, all = every class with background), disjoint (D) and overlap (O) "
        "settings, as in the paper's Tables 1–2.",
        "",
        *lines,
        "",
        "Acceptance ratios:",
        "",
        *ratio_lines,
        "",
        *render_runtimes(seconds),
        "",
    ]


def render_web(web: dict) -> list[str]:
    its = web["iterations"]
    rows = [("step 0 (before step 1)", web["step0"], "–"), ("WILSON", web["wilson"], its["wilson"]),
            ("WILSON, twice the epochs (control)", web["wilson_2x"], its["wilson_2x"]),
            (f"WILSON + replay (replay.num={web['replay_num']})", web["wilson_replay"], its["wilson_replay"])]
    table = ["| method | iterations | old 1-15 | new 16-20 | all |", "|---|---|---|---|---|"]
    table += [f"| {name} | {n} | {pct(r['miou_old'])} | {pct(r['miou_new'])} | {pct(r['miou_all'])} |"
              for name, r, n in rows]
    replay, old_replay = web["replay"], web["wilson_replay"]["miou_old"]
    gain, gain_2x = old_replay - web["wilson"]["miou_old"], old_replay - web["wilson_2x"]["miou_old"]
    stages = " + ".join(f"{stage} {seconds:.0f} s" for stage, seconds in replay["seconds"].items())
    return [
        "## Web-WILSS: caption-driven replay, 15-5 overlap",
        "",
        "Part `web`: from the step-0 checkpoint and dataset of the 15-5 overlap runs of part `table1`: synthetic "
        f"web data ({replay['sources']} source images × {WEB_PER_SOURCE} caption-retrieved web images, "
        f"{replay['web_image_size']} px), `python -m wilss.web captions` (file backend), "
        "`select-replay --mode semantic`, `pseudo-label` with the step-0 model, then WILSON's step 1 with "
        f"`replay.enabled=true replay.num={web['replay_num']}`, everything else as the WILSON run: every batch is "
        "half replay, and an epoch is one pass of the step's own images (`replay.epoch_length=step_images`), so "
        "the run has about twice WILSON's iterations. The control trains WILSON for twice the epochs (and twice "
        "`pseudo_ep`), as many iterations without replay. mIoU % on the synthetic val set.",
        "",
        *table,
        "",
        f"Old-class mIoU of WILSON + replay minus WILSON: {100 * gain:+.1f} points; minus the control with as many "
        f"iterations: {100 * gain_2x:+.1f} points.",
        "",
        f"Replay set: {replay['labelled']} pseudo-labelled web images, selected from {replay['candidates']} "
        f"candidates of {replay['sources']} sources; {100 * replay['selected_showing_a_source_class']:.0f} % of "
        "the selected images show a class of their source image (from the generator's truth.json, which the "
        "commands never read).",
        "",
        f"Runtime: replay pipeline {sum(replay['seconds'].values()) / 60:.1f} minutes ({stages}); WILSON + replay "
        f"step 1 {web['training_seconds'] / 60:.1f} minutes of training and evaluation (from its log), on the same "
        "2 shared CPU cores.",
        "",
    ]


def render(parts: dict, overrides: list[str]) -> str:
    lines = ["# Synthetic benchmark: WILSON vs baselines, and Web-WILSS replay", "",
             "Produced by `python scripts/benchmark_synthetic.py` on the CPU "
             f"(parts: {', '.join(parts)}). Overrides: `{' '.join(overrides)}`.", ""]
    if "table1" in parts:
        lines += render_table1(parts["table1"]["results"], parts["table1"]["seconds"])
    if "web" in parts:
        lines += render_web(parts["web"])
    lines += ["The long chains (15-1 and 10-2, five weak steps each) are a sweep of their own: "
              "`docs/benchmark_forgetting.md`.", ""]
    return "\n".join(lines)


def parse_parts(text: str) -> list[str]:
    parts = [part for part in text.split(",") if part]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise WilssError(f"--parts {text}: choose a comma-separated subset of {','.join(PARTS)}.")
    return [part for part in PARTS if part in parts]


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmark"), help="run directories")
    parser.add_argument("--doc", type=Path, default=Path("docs/benchmark_synthetic.md"), help="markdown report")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--web-sources", type=int, default=WEB_SOURCES,
                        help=f"web part: dataset images whose captions retrieve web images (default {WEB_SOURCES})")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = parser.parse_args()
    parts = parse_parts(args.parts)
    base = ["experiment=benchmark", f"output_root={args.out}", *args.overrides]
    summary: dict = {}
    try:
        if "table1" in parts:
            results = {setting_label(task, overlap): benchmark_setting(base, args.out, task, overlap)
                       for task, overlap in SETTINGS}
            summary["table1"] = {"results": results, "ratios": {s: ratios(r) for s, r in results.items()},
                                 "seconds": run_seconds(args.out)}
        if "web" in parts:
            summary["web"] = benchmark_web(base, args.out, args.web_sources)
    finally:
        distributed.shutdown()
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(render(summary, base))
    args.doc.with_suffix(".json").write_text(json.dumps({**summary, "overrides": base}, indent=2))
    print(args.doc.read_text())


if __name__ == "__main__":
    main()

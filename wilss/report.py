"""The papers' tables from finished runs: `wilss report RUN_OR_SWEEP_DIR... [--out DIR] [--format F]`.

Reads every finished step (`results.json` and the resolved `config.yaml`) of the given run directories and of
every point of the given sweep directories, and writes to the output folder:

- the main table: rows = methods, columns = old / new / all per setting (task, disjoint D or overlap O), after
  the chain's last step, as mean ± std over the runs (seeds) of each cell. "old" are the classes of step 0 and
  "new" every class added after it (the papers' 1-15 / 16-20 also for 15-1), background only in "all";
- on real data (voc, coco-voc), the published numbers (`wilss/published.yaml`, with sources) and the deltas;
- per-class IoU after the last step, and forgetting per old class: its IoU before a step minus after it;
- report.md, report.csv (one row per number), report.json (everything), report.tex (the main table), and with
  matplotlib (`pip install 'wilss[report]'`) PNG figures: old / new / all along the steps per method, and
  per-class IoU after the last step.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from wilss.atomic import atomic_write_bytes
from wilss.core import log
from wilss.data.datasets import DATASETS
from wilss.data.tasks import get_task
from wilss.errors import WilssError, exit_on_user_error
from wilss.layout import RunLayout, SweepLayout
from wilss.sweep import read_sweep_file, recorded_points

PUBLISHED = Path(__file__).resolve().parent / "published.yaml"
GROUPS = ("old", "new", "all")
# Keys that place a run in a column, or that the method label already says: not repeated in the row label.
PLACED_KEYS = ("seed", "task", "overlap", "dataset", "method", "replay.enabled", "web.enabled")
FORMATS = {"markdown": "report.md", "csv": "report.csv", "json": "report.json", "latex": "report.tex"}


@dataclass
class Run:
    """One chain's finished steps: per step, mIoU of the groups and IoU per class (fractions)."""
    directory: Path
    setting: str
    method: str
    dataset: str
    num_steps: int
    steps: dict[int, dict] = field(default_factory=dict)  # step -> {"old", "new", "all", "per_class"}

    @property
    def complete(self) -> bool:
        return self.num_steps - 1 in self.steps


def setting_label(dataset: str, task: str, overlap: bool) -> str:
    label = f"{task} {'O' if overlap else 'D'}"
    return label if dataset == "voc" else f"{dataset} {label}"


def method_label(config: dict, extra: list[str]) -> str:
    label = config["method"]["name"]
    label += " + replay" if config.get("replay", {}).get("enabled") else ""
    label += " + web" if config.get("web", {}).get("enabled") else ""
    return " ".join([label, *extra])


def _mean(values) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def read_run(directory: Path, extra: list[str]) -> Run | None:
    """The run's finished steps, or None when step 0 has not finished."""
    finished = {step: files for step, files in RunLayout(directory).existing_steps()
                if files.results.is_file() and files.config.is_file()}
    if 0 not in finished:
        return None
    config = yaml.safe_load(finished[max(finished)].config.read_text())
    dataset, task, overlap = config["dataset"]["name"], config["task"]["name"], bool(config["overlap"])
    run = Run(directory, setting_label(dataset, task, overlap), method_label(config, extra), dataset,
              get_task(dataset, task, 0).num_steps)
    base_classes = None
    for step, files in sorted(finished.items()):
        val = json.loads(files.results.read_text())["sets"]["val"]
        per_class = val["per_class_iou"]
        names = list(per_class)[1:]  # without background
        base_classes = names if base_classes is None else base_classes
        run.steps[step] = {"old": _mean(per_class[c] for c in base_classes),
                           "new": _mean(per_class[c] for c in names if c not in base_classes),
                           "all": val["miou_all"], "per_class": per_class}
    return run


def run_directories(path: Path) -> list[tuple[Path, list[str]]]:
    """(run directory, extra label words) of a run or of every point of a sweep."""
    if read_sweep_file(path):
        return [(SweepLayout(path).point(name).root, [v for v in point["values"] if v.lstrip("+~").split("=")[0]
                                          not in PLACED_KEYS]) for name, point in recorded_points(path).items()]
    if any(path.glob("step*/results.json")) or any(path.glob("step*/manifest.json")):
        return [(path, [])]
    raise WilssError(f"'{path}' is neither a run directory (step0/, step1/, ...) nor a sweep directory "
                     "(sweep.json); pass the directory that wilss chain or wilss submit printed.")


def collect(paths: list[Path]) -> list[Run]:
    runs = [read_run(directory, extra) for path in paths for directory, extra in run_directories(Path(path))]
    return [run for run in runs if run is not None]


# ----------------------------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------------------------

def stats(values: list[float | None]) -> dict:
    """Mean and sample standard deviation in %, over the runs that have the value."""
    present = [100 * v for v in values if v is not None]
    return {"mean": statistics.fmean(present) if present else None,
            "std": statistics.stdev(present) if len(present) > 1 else None, "n": len(present)}


def main_table(runs: list[Run]) -> dict:
    """{setting: {row: {group: stats}}}: the last step of complete chains; the row "step 0" is the base model."""
    cells: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    step0_seen = set()
    for run in runs:
        shared = (run.directory / "step0").resolve()  # points of a sweep may share one step 0
        for group in GROUPS:
            if shared not in step0_seen:
                cells[run.setting]["step 0"][group].append(run.steps[0][group] if group != "new" else None)
            if run.complete:
                cells[run.setting][run.method][group].append(run.steps[run.num_steps - 1][group])
        step0_seen.add(shared)
    return {setting: {row: {g: stats(v) for g, v in groups.items()} for row, groups in rows.items()}
            for setting, rows in cells.items()}


def along_steps(runs: list[Run]) -> dict:
    """{setting: {method: {step: {group: stats}}}}, over the runs' finished steps."""
    cells: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))
    for run in runs:
        for step, values in run.steps.items():
            for group in GROUPS:
                cells[run.setting][run.method][step][group].append(values[group])
    return {s: {m: {t: {g: stats(v) for g, v in groups.items()} for t, groups in steps.items()}
                for m, steps in methods.items()} for s, methods in cells.items()}


def per_class_final(runs: list[Run]) -> dict:
    """{setting: {method: {class: stats}}} after the last step."""
    cells: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for run in runs:
        if run.complete:
            for name, iou in run.steps[run.num_steps - 1]["per_class"].items():
                cells[run.setting][run.method][name].append(iou)
    return {s: {m: {c: stats(v) for c, v in classes.items()} for m, classes in methods.items()}
            for s, methods in cells.items()}


def forgetting(runs: list[Run]) -> dict:
    """{setting: {method: {step: {class: stats}}}}: IoU of each old class (background excluded) after step t−1
    minus after step t, in points; "mean" is the mean over the old classes."""
    cells: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))
    for run in runs:
        for step in sorted(run.steps)[1:]:
            if step - 1 not in run.steps:
                continue
            before, after = run.steps[step - 1]["per_class"], run.steps[step]["per_class"]
            drops = {c: before[c] - after[c] for c in list(before)[1:]
                     if before[c] is not None and after.get(c) is not None}
            for name, drop in drops.items():
                cells[run.setting][run.method][step][name].append(drop)
            cells[run.setting][run.method][step]["mean"].append(_mean(drops.values()))
    return {s: {m: {t: {c: stats(v) for c, v in classes.items()} for t, classes in steps.items()}
                for m, steps in methods.items()} for s, methods in cells.items()}


def published_beside(runs: list[Run], table: dict) -> list[dict]:
    """Measured (mean over seeds) and published numbers with the delta, on real data."""
    entries = yaml.safe_load(PUBLISHED.read_text())["results"]
    real = {run.setting for run in runs if not DATASETS.get(run.dataset).drawn}  # drawn: the synthetic stand-in
    rows = []
    for entry in entries:
        setting = setting_label(entry["dataset"], entry["task"], entry["overlap"])
        measured = table.get(setting, {}).get(entry["method"])
        if setting not in real or measured is None:
            continue
        for group in GROUPS:
            if group in entry and measured[group]["mean"] is not None:
                rows.append({"setting": setting, "method": entry["method"], "group": group,
                             "mean": measured[group]["mean"], "std": measured[group]["std"],
                             "n": measured[group]["n"], "published": entry[group],
                             "delta": measured[group]["mean"] - entry[group], "source": entry["source"]})
    return rows


# ----------------------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------------------

def cell(value: dict, latex: bool = False) -> str:
    if value["mean"] is None:
        return "–"
    if value["std"] is None:
        return f"{value['mean']:.1f}"
    return f"{value['mean']:.1f} $\\pm$ {value['std']:.1f}" if latex else f"{value['mean']:.1f} ± {value['std']:.1f}"


def ordered_rows(table: dict) -> list[str]:
    rows = {row for setting in table.values() for row in setting}
    return ["step 0", *sorted(rows - {"step 0"})] if "step 0" in rows else sorted(rows)


def markdown_main(table: dict) -> list[str]:
    settings = list(table)
    lines = ["| method | " + " | ".join(f"{s} {g}" for s in settings for g in GROUPS) + " |",
             "|---|" + "---|" * (3 * len(settings))]
    for row in ordered_rows(table):
        empty = {"mean": None}
        cells = [cell(table[s].get(row, {}).get(g, empty)) for s in settings for g in GROUPS]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return lines


def class_columns(rows: dict[str, dict]) -> list[str]:
    """Every class of `rows`, in order of first appearance."""
    return list(dict.fromkeys(c for values in rows.values() for c in values))


def markdown_classes(title: str, rows: dict[str, dict], classes: list[str]) -> list[str]:
    """A table with one row per key of `rows` and one column per class of `classes`."""
    lines = [title, "", "| | " + " | ".join(classes) + " |", "|---|" + "---|" * len(classes)]
    for label, values in rows.items():
        lines.append(f"| {label} | " + " | ".join(cell(values[c]) if c in values else "" for c in classes) + " |")
    return [*lines, ""]


def markdown_steps(setting: str, methods: dict) -> list[str]:
    """Old / new / all after every step of the chains, one row per method and step."""
    lines = [f"## Along the chain, {setting}: mIoU % after each step", "", "| method | step | old | new | all |",
             "|---|---|---|---|---|"]
    for method, steps in methods.items():
        lines += [f"| {method} | {step} | " + " | ".join(cell(groups[g]) for g in GROUPS) + " |"
                  for step, groups in sorted(steps.items())]
    return [*lines, ""]


def markdown_forgetting(setting: str, methods: dict) -> list[str]:
    """One row per method and step, one column per old class, and their mean after every class (also those a
    later step adds)."""
    rows = {f"{method}, step {step}": classes for method, steps in methods.items() for step, classes in steps.items()}
    columns = [c for c in class_columns(rows) if c != "mean"] + ["mean"]
    return markdown_classes(f"## Forgetting, {setting}: IoU of each old class before the step minus after it "
                            "(points; mean = over the old classes)", rows, columns)


def render_markdown(report: dict) -> str:
    lines = ["# Results", "", f"Runs: {report['runs']} ({report['complete']} complete chains). mIoU % on the val "
             "set after the last step, mean ± std over the runs of each cell (seeds); old = the classes of step "
             "0, new = the classes added after it (both without background), all = every class with background.",
             "", *markdown_main(report["table"]), ""]
    if report["published"]:
        lines += ["## Published numbers", "", "| setting | method | group | measured | published | delta | "
                  "source |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['setting']} | {r['method']} | {r['group']} | {cell(r)} | {r['published']:.1f} | "
                  f"{r['delta']:+.1f} | {r['source']} |" for r in report["published"]]
        lines += ["", *(f"- {name}: {text}" for name, text in report["sources"].items()), ""]
    for setting, methods in report["steps"].items():
        lines += markdown_steps(setting, methods)
    for setting, methods in report["per_class"].items():
        lines += markdown_classes(f"## Per-class IoU after the last step, {setting}", methods, class_columns(methods))
    for setting, methods in report["forgetting"].items():
        lines += markdown_forgetting(setting, methods)
    lines += [f"![{Path(figure).stem}]({Path(figure).name})" for figure in report["figures"]]
    return "\n".join(lines) + "\n"


def render_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["table", "setting", "method", "step", "column", "mean", "std", "n"])

    def row(table, setting, method, step, column, value):
        writer.writerow([table, setting, method, step, column,
                         *("" if value[k] is None else f"{value[k]:.4f}" for k in ("mean", "std")), value["n"]])

    for setting, rows in report["table"].items():
        for method, groups in rows.items():
            for group, value in groups.items():
                row("last step", setting, method, "", group, value)
    for setting, methods in report["steps"].items():
        for method, steps in methods.items():
            for step, groups in steps.items():
                for group, value in groups.items():
                    row("along steps", setting, method, step, group, value)
    for setting, methods in report["per_class"].items():
        for method, classes in methods.items():
            for name, value in classes.items():
                row("per-class IoU", setting, method, "", name, value)
    for setting, methods in report["forgetting"].items():
        for method, steps in methods.items():
            for step, classes in steps.items():
                for name, value in classes.items():
                    row("forgetting", setting, method, step, name, value)
    for r in report["published"]:
        writer.writerow(["published", r["setting"], r["method"], "", r["group"], f"{r['published']:.1f}", "", ""])
    return out.getvalue()


def render_latex(report: dict) -> str:
    table, settings = report["table"], list(report["table"])
    lines = [f"\\begin{{tabular}}{{l{'ccc' * len(settings)}}}", "\\toprule",
             " & " + " & ".join(f"\\multicolumn{{3}}{{c}}{{{s}}}" for s in settings) + " \\\\",
             "method & " + " & ".join("old & new & all" for _ in settings) + " \\\\", "\\midrule"]
    for row in ordered_rows(table):
        cells = [cell(table[s].get(row, {}).get(g, {"mean": None}), latex=True) for s in settings for g in GROUPS]
        lines.append(f"{row} & " + " & ".join(cells) + " \\\\")
    return "\n".join([*lines, "\\bottomrule", "\\end{tabular}"]) + "\n"


# ----------------------------------------------------------------------------------------------------------
# Figures (matplotlib, optional)
# ----------------------------------------------------------------------------------------------------------

MATPLOTLIB_MISSING = "figures skipped: matplotlib is not installed (pip install 'wilss[report]')"


def draw_figures(report: dict, out: Path) -> list[Path]:
    """Per setting: old / new / all along the steps per method, and per-class IoU after the last step."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figures = []
    for setting, methods in report["steps"].items():
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharey=True)
        for method, steps in methods.items():
            order = sorted(steps)
            for axis, group in zip(axes, GROUPS):
                points = [(t, steps[t][group]) for t in order if steps[t][group]["mean"] is not None]
                if points:
                    axis.errorbar([t for t, _ in points], [v["mean"] for _, v in points],
                                  yerr=[v["std"] or 0 for _, v in points], marker="o", capsize=3, label=method)
        last = max(step for steps in methods.values() for step in steps)
        for axis, group in zip(axes, GROUPS):
            axis.set(title=f"{setting}: {group}", xlabel="step", xticks=range(last + 1), xlim=(-0.3, last + 0.3))
            axis.grid(alpha=0.3)
        axes[0].set_ylabel("mIoU %")
        axes[0].legend(fontsize=8)
        figures.append(save_figure(fig, out / f"steps-{slug(setting)}.png"))
        plt.close(fig)
    for setting, methods in report["per_class"].items():
        classes = list(dict.fromkeys(c for values in methods.values() for c in values))
        fig, axis = plt.subplots(figsize=(min(14, max(6, 0.55 * len(classes))), 3.5))
        width = 0.8 / max(1, len(methods))
        for k, (method, values) in enumerate(methods.items()):
            means = [values.get(c, {}).get("mean") or 0 for c in classes]
            axis.bar([i + k * width for i in range(len(classes))], means, width, label=method)
        axis.set_xticks([i + 0.4 - width / 2 for i in range(len(classes))], classes, rotation=60, ha="right",
                        fontsize=8)
        axis.set(title=f"{setting}: IoU per class after the last step", ylabel="IoU %")
        axis.legend(fontsize=8)
        figures.append(save_figure(fig, out / f"per-class-{slug(setting)}.png"))
        plt.close(fig)
    return figures


def slug(setting: str) -> str:
    return setting.replace(" ", "-")


def save_figure(fig, path: Path) -> Path:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    atomic_write_bytes(path, lambda handle: handle.write(buffer.getvalue()))
    return path


# ----------------------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------------------

@dataclass
class Report:
    data: dict
    files: dict[str, Path]

    @property
    def markdown(self) -> str:
        return self.files["markdown"].read_text()


def build(paths: list[Path]) -> dict:
    runs = collect(paths)
    if not runs:
        raise WilssError(f"no finished step in {', '.join(map(str, paths))}: nothing to report yet "
                         "(see wilss status).")
    table = main_table(runs)
    return {"runs": len(runs), "complete": sum(run.complete for run in runs),
            "run_dirs": [str(run.directory) for run in runs], "table": table, "steps": along_steps(runs),
            "per_class": per_class_final(runs), "forgetting": forgetting(runs),
            "published": published_beside(runs, table),
            "sources": yaml.safe_load(PUBLISHED.read_text())["sources"], "figures": []}


def write_report(paths: list[Path], out: Path, figures: bool = True) -> Report:
    """Collect, render every format into `out`, and draw the figures when matplotlib is there."""
    data = build(paths)
    if figures:
        try:
            data["figures"] = [str(path) for path in draw_figures(data, out)]
        except ImportError:
            print(MATPLOTLIB_MISSING, file=sys.stderr)
    renderers = {"markdown": render_markdown, "csv": render_csv,
                 "json": lambda d: json.dumps(d, indent=2, default=str), "latex": render_latex}
    files = {}
    for name, render in renderers.items():
        payload = render(data).encode()
        files[name] = out / FORMATS[name]
        atomic_write_bytes(files[name], lambda handle, payload=payload: handle.write(payload))
    return Report(data, files)


def report_if_sweep_finished(sweep_dir: Path) -> Path | None:
    """Write the sweep's report once the last step of every point has finished; return its folder."""
    try:
        layout = SweepLayout(sweep_dir)
        points = recorded_points(sweep_dir)
        last_steps = [layout.point(name).step(point["length"] - 1) for name, point in points.items()]
        if not all(step.finished() for step in last_steps):
            return None
        write_report([sweep_dir], layout.report)
    except Exception as err:  # noqa: BLE001 - the step itself finished: a report problem must not fail its job
        log.warning("the sweep's report could not be written (%s: %s); run: wilss report %s",
                    type(err).__name__, err, sweep_dir)
        return None
    return layout.report


def default_out(paths: list[Path]) -> Path:
    return paths[0] / "report" if len(paths) == 1 else Path("report")


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="wilss report", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="run or sweep directories")
    parser.add_argument("--out", type=Path, help="output folder (default: <dir>/report for one directory, "
                                                 "else ./report)")
    parser.add_argument("--format", choices=list(FORMATS), default="markdown", help="what to print")
    parser.add_argument("--no-figures", action="store_true", help="tables only")
    args = parser.parse_args(argv)
    report = write_report(args.paths, args.out or default_out(args.paths), figures=not args.no_figures)
    print(report.files[args.format].read_text())


if __name__ == "__main__":
    main()

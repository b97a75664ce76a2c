"""`wilss report`: tables (mean ± std over seeds), published numbers with deltas, forgetting and figures, from run
directories whose results are known exactly (written here in the layout the training writes)."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest
import yaml
from PIL import Image

from conftest import REPO, run_cli
from wilss.data.tasks import get_task
from wilss.report import MATPLOTLIB_MISSING, markdown_forgetting, write_report


def write_run(run, seed: int, old_iou: tuple[float, float], new_iou: float, all_iou: float, method="wilson"):
    """A finished 15-5 disjoint VOC chain: every old class at old_iou[0] after step 0 and old_iou[1] after step 1,
    every new class at new_iou."""
    for step, classes in ((0, get_task("voc", "15-5", 0).class_names()), (1, get_task("voc", "15-5", 1).class_names())):
        directory = run / f"step{step}"
        directory.mkdir(parents=True)
        per_class = {name: (0.9 if k == 0 else old_iou[step] if k <= 15 else new_iou) for k, name in enumerate(classes)}
        val = {"miou_old": None, "miou_new": None, "miou_all": all_iou if step else 0.7, "per_class_iou": per_class}
        (directory / "results.json").write_text(json.dumps({"step": step, "sets": {"val": val}}))
        config = {"dataset": {"name": "voc"}, "task": {"name": "15-5"}, "overlap": False, "seed": seed,
                  "method": {"name": method}, "replay": {"enabled": False}, "web": {"enabled": False}}
        (directory / "config.yaml").write_text(yaml.safe_dump(config))


def test_report_holds_mean_and_std_over_seeds_published_deltas_forgetting_and_figures(tmp_path):
    write_run(tmp_path / "s0", 0, (0.5, 0.4), 0.3, 0.60)
    write_run(tmp_path / "s1", 1, (0.6, 0.5), 0.2, 0.70)
    out = tmp_path / "report"
    result = run_cli(["wilss", "report", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(out),
                      "--format", "latex"], cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "wilson & 45.0 $\\pm$ 7.1 & 25.0 $\\pm$ 7.1 & 65.0 $\\pm$ 7.1" in result.stdout  # the printed format
    markdown = (out / "report.md").read_text()
    assert "| step 0 | 55.0 ± 7.1 | – | 70.0 ± 0.0 |" in markdown
    assert "| wilson | 45.0 ± 7.1 | 25.0 ± 7.1 | 65.0 ± 7.1 |" in markdown
    assert "| 15-5 D | wilson | all | 65.0 ± 7.1 | 67.3 | -2.3 | wilson |" in markdown
    assert "| wilson | 0 | 55.0 ± 7.1 | – | 70.0 ± 0.0 |" in markdown  # along the chain: every step
    assert "| wilson | 1 | 45.0 ± 7.1 | 25.0 ± 7.1 | 65.0 ± 7.1 |" in markdown
    assert "Cermelli" in markdown  # the source of the published numbers
    forgetting = json.loads((out / "report.json").read_text())["forgetting"]["15-5 D"]["wilson"]["1"]
    assert forgetting["person"]["mean"] == pytest.approx(10.0) and forgetting["mean"]["mean"] == pytest.approx(10.0)
    assert "background" not in forgetting and forgetting["person"]["n"] == 2
    rows = list(csv.DictReader(io.StringIO((out / "report.csv").read_text())))
    assert {"table": "last step", "setting": "15-5 D", "method": "wilson", "step": "", "column": "all",
            "mean": "65.0000", "std": "7.0711", "n": "2"} in rows
    figures = sorted(out.glob("*.png"))
    assert [f.name for f in figures] == ["per-class-15-5-D.png", "steps-15-5-D.png"]
    for figure in figures:
        assert 5_000 < figure.stat().st_size < 1_000_000
        with Image.open(figure) as image:
            assert image.format == "PNG" and image.width >= 500 and image.height >= 250
    assert all(f"]({f.name})" in markdown for f in figures)


def test_without_matplotlib_the_tables_are_written_and_the_message_says_what_to_install(tmp_path, monkeypatch,
                                                                                        capsys):
    write_run(tmp_path / "s0", 0, (0.5, 0.4), 0.3, 0.60, method="ft")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # an import of it now raises ImportError
    report = write_report([tmp_path / "s0"], tmp_path / "report")
    assert MATPLOTLIB_MISSING in capsys.readouterr().err and "pip install 'wilss[report]'" in MATPLOTLIB_MISSING
    assert "| ft | 40.0 | 30.0 | 60.0 |" in report.markdown and not list((tmp_path / "report").glob("*.png"))
    assert "## Published numbers" not in report.markdown  # no published ft row (the papers' FT is pixel-supervised)


def test_report_of_a_directory_without_runs_names_it_and_the_fix(tmp_path):
    result = run_cli(["wilss", "report", str(tmp_path)], cwd=REPO)
    assert result.returncode == 2 and "neither a run directory" in result.stderr and str(tmp_path) in result.stderr


def test_forgetting_table_puts_the_mean_after_the_classes_that_later_steps_add():
    value = {"mean": 1.0, "std": None}
    steps = {1: {"cat": value, "mean": value}, 2: {"cat": value, "sheep": value, "mean": value}}  # sheep: step 1's
    header = markdown_forgetting("synthetic 15-1 disjoint", {"wilson": steps})[2]
    assert header == "| | cat | sheep | mean |"

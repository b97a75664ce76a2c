"""Progress a user sees in a non-TTY log: plain lines for long silent phases, and an ETA that neither jumps with
one slow window nor ends with the step when a chain has more steps."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from wilss import core
from wilss.core import ProgressLine, duration, log
from wilss.engine import hooks
from wilss.engine.hooks import ProgressHook
from wilss.engine.loggers import MetricLoggers
from wilss.engine.trainer import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lines():
    """The `wilss` logger's lines of the test."""
    captured: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: captured.append(record.getMessage())
    saved = log.handlers[:], log.level
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    yield captured
    log.handlers[:], _ = saved
    log.setLevel(saved[1])


def test_durations_read_at_a_glance():
    assert [duration(s) for s in (7, 185, 7440)] == ["7 s", "3 min 05 s", "2 h 04 min"]


def test_a_long_phase_prints_a_line_at_start_every_interval_and_at_the_end(monkeypatch, lines):
    clock = Clock()
    monkeypatch.setattr(core.time, "perf_counter", clock)
    progress = ProgressLine("evaluation", 100, every_s=30)
    for _ in range(10):
        clock.now += 4  # 10 images every 4 s
        progress.advance(10)
    progress.finish()
    assert lines == ["evaluation: 100 images",
                     "evaluation: 80/100 images (80%), 2.5/s, eta 8 s",
                     "evaluation: 100 images in 40 s"]


def fake_trainer(progress: Progress) -> SimpleNamespace:
    return SimpleNamespace(progress=progress, losses={"seg": 1.0},
                           optimizer=SimpleNamespace(param_groups=[{"name": "body", "lr": 0.01}]))


def run_iterations(hook: ProgressHook, progress: Progress, clock: Clock, seconds: list[float]) -> None:
    for step_seconds in seconds:
        clock.now += step_seconds
        progress.global_iteration += 1
        progress.iteration = progress.global_iteration % progress.iters_per_epoch or progress.iters_per_epoch
        hook.after_step(fake_trainer(progress))


def test_the_eta_averages_since_the_first_report_and_adds_the_chain(monkeypatch, lines):
    clock = Clock()
    monkeypatch.setattr(hooks.time, "perf_counter", clock)
    progress = Progress(epochs=1, iters_per_epoch=100)
    hook = ProgressHook(10, 8, MetricLoggers([], None), True, later_iterations=200)
    # 1 s per iteration, then one window of 10 iterations that includes a 300 s validation pause
    run_iterations(hook, progress, clock, [1.0] * 20 + [31.0] * 10 + [1.0] * 10)
    etas = [line.split("| eta ")[1] for line in lines]
    # at iteration 20 the pace is 1 s/it; the slow window moves the average to (10 + 310) / 20 = 16 s/it;
    # ten more fast iterations bring it to (10 + 310 + 10) / 30 = 11 s/it: no jump back to 1 s/it
    assert etas[1] == "1 min 20 s (chain 4 min 40 s)"
    assert etas[2] == "18 min 40 s (chain 1 h 12 min)"
    assert etas[3] == "11 min 00 s (chain 47 min 40 s)"
    assert "| 0.3 img/s |" in lines[2] and "| 8.0 img/s |" in lines[3]  # the last window's throughput


def test_without_later_steps_the_line_has_no_chain_eta(monkeypatch, lines):
    clock = Clock()
    monkeypatch.setattr(hooks.time, "perf_counter", clock)
    progress = Progress(epochs=1, iters_per_epoch=20)
    run_iterations(ProgressHook(10, 8, MetricLoggers([], None), True), progress, clock, [1.0] * 20)
    assert len(lines) == 2 and "chain" not in lines[1]


def test_a_chain_logs_its_phases_and_the_chain_eta_and_titles_its_panels(tmp_path):
    """The real command: step 0's log has the chain's ETA and every evaluation's progress lines; the TensorBoard
    panel has three columns at step 0 and four (the pseudo-label) in the weak step 1."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from conftest import run_cli
    from test_train_e2e import TINY

    result = run_cli(["wilss.chain", *TINY, f"output_root={tmp_path}", "train.epochs_base=1",
                      "train.epochs_incremental=1", "train.image_panels=2"], cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = tmp_path / "synthetic-15-5" / "wilson"
    step0, step1 = ((run / f"step{step}" / "train.log").read_text() for step in (0, 1))
    # drawn while the step's inputs are checked, before its directory (and train.log) exists: on the console
    assert "drawing the synthetic dataset (64 px)" in result.stdout and "(chain " in step0
    assert "(chain " not in step1  # the last step: its ETA is the chain's
    assert "evaluation: 12 images in" in step0 and "evaluation: 12 images in" in step1
    widths = []
    for step in (0, 1):
        events = EventAccumulator(str(run / f"step{step}" / "tensorboard"), size_guidance={"images": 0}).Reload()
        widths.append(events.Images("val/image_gt_prediction")[-1].width)
    crop, pad = 64, 4
    assert widths == [3 * (crop + pad) + pad, 4 * (crop + pad) + pad]

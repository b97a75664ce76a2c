"""CI's learning guard: the kit must still learn. A seeded short chain on the synthetic data (step 0 from pixel
labels, then WILSON's step 1 from image labels only), run as the command a user types, must reach the mIoU the
fixed code reached, less a margin (wilss/expected.yaml, entry `guard`, written by scripts/record_results.py).

The margin passes thread and rounding noise and fails a real regression: with the masks mirrored against a third
of their images (the bug fixed in 844eeac) this chain loses far more than the margin (docs/learning_guard.md).
Everything is the users' defaults (precision, workers, memory format) except the length.
"""

from __future__ import annotations

import json

from conftest import REPO, run_cli

from wilss.expected import above_floors, comparison_table, load_expected, measured_steps, verdict


def test_a_short_seeded_chain_learns_at_least_the_recorded_floors(tmp_path):
    guard = load_expected("guard")
    result = run_cli(["wilss", "chain", *guard.command, f"output_root={tmp_path}"], cwd=tmp_path, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = tmp_path / "synthetic-15-5" / "guard"
    results = [json.loads((run_dir / f"step{step}" / "results.json").read_text()) for step in sorted(guard.steps)]
    measured = measured_steps(results)
    table = comparison_table(guard, measured)
    print(f"\nlearning guard (floors = recorded − {guard.tolerance:g} mIoU points; recorded at {guard.commit} on "
          f"{guard.machine}):\n{table}")
    assert above_floors(guard, measured), f"the kit learns less than it did at {guard.commit}:\n{table}"


def test_the_guard_and_the_demo_records_name_their_commands_and_machine():
    """Each record says what produced it; the guard's command is the demo's, shortened, so it guards the demo."""
    for name in ("demo", "guard"):
        record = load_expected(name)
        assert record.commit and record.machine and record.steps and record.tolerance > 0
        assert "experiment=demo" in record.command
    assert (REPO / "docs" / "demo_results.md").exists()


def test_the_readme_shows_the_recorded_demo_table():
    """The README's demo table is docs/demo_results.md's, which is the record `make demo` compares with."""
    doc = (REPO / "docs" / "demo_results.md").read_text()
    table = [line for line in doc.splitlines() if line.startswith("| demo |")]
    record = load_expected("demo")
    assert len(table) == len(record.steps)
    for line, (step, row) in zip(table, sorted(record.steps.items())):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[1] == str(step)
        assert cells[2:] == ["–" if row[c] is None else f"{row[c]:.1f}" for c in ("old", "new", "all")]
    readme = (REPO / "README.md").read_text()
    assert "\n".join(table) in readme, "README.md's demo table differs from docs/demo_results.md"
    assert record.commit in readme and record.commit in doc


def test_the_demo_verdict_says_within_outside_or_not_comparable():
    """What `make demo` prints at its end: the recorded table beside the run's, and whether it is within tolerance;
    a run with other training settings is not compared, one with other paths or workers is."""
    record = load_expected("demo")
    same = {step: dict(row) for step, row in record.steps.items()}
    assert "Within tolerance" in verdict(record, same, ["experiment=demo", "train.num_workers=4", "output_root=x"])
    halved = {step: {column: None if value is None else value / 2 for column, value in row.items()}
              for step, row in record.steps.items()}
    text = verdict(record, halved, ["experiment=demo"])
    assert "OUTSIDE the tolerance" in text and f"{record.steps[0]['all']:.1f}" in text
    assert "not compared" in verdict(record, same, ["experiment=demo", "train.epochs_base=4"])
    assert not above_floors(record, halved) and above_floors(record, same)

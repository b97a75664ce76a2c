"""Checkpoints: atomic writes that survive a kill, self-describing metadata, refusal of foreign checkpoints."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from wilss.atomic import remove_leftover_temporaries
from wilss.checkpoint import check_meta, load_checkpoint, save_checkpoint, task_meta
from wilss.data.tasks import get_task
from wilss.errors import WilssError

WRITER = """
import sys, torch
from pathlib import Path
from wilss.checkpoint import save_checkpoint
path, i = Path(sys.argv[1]), 1
while True:
    save_checkpoint(path, {"x": torch.full((3_000_000,), float(i))}, {"version": i})
    print(i, flush=True)
    i += 1
"""


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.13])
def test_process_killed_during_save_leaves_a_valid_checkpoint(tmp_path, delay):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"x": torch.zeros(3_000_000)}, {"version": 0})
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    writer.stdout.readline()  # at least one save completed; the next one is in flight
    time.sleep(delay)
    writer.kill()
    writer.wait()
    checkpoint = load_checkpoint(path)
    version = checkpoint["meta"]["version"]
    assert version >= 1
    assert torch.equal(checkpoint["x"], torch.full((3_000_000,), float(version)))
    # The killed save's temporary file (up to a whole checkpoint, or the sidecar's when the kill came after the
    # checkpoint's rename) is what the next start removes.
    leftovers = sorted(tmp_path.glob(".last.*.tmp*"))
    assert remove_leftover_temporaries(tmp_path) == leftovers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.json", "last.pt"]


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB file system of its own (tmpfs), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True,
                             text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {mounted.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_or_read_only_disk_is_named_with_the_path_and_the_space_needed(small_disk):
    path = small_disk / "checkpoints" / "last.pt"
    with pytest.raises(WilssError, match=r"last.pt': no space left on its disk .* MiB free, the checkpoint "
                                         r"needs about 3.8 MiB"):
        save_checkpoint(path, {"x": torch.zeros(1_000_000)}, {})
    assert list(path.parent.iterdir()) == []  # the partial temporary file is gone, its space free again
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(WilssError, match="its file system is read-only"):
        save_checkpoint(path, {"x": torch.zeros(10)}, {})


def test_checkpoint_round_trip_is_weights_only_with_sidecar(tmp_path):
    path = tmp_path / "final.pt"
    meta = task_meta(get_task("voc", "15-5", 0)) | {"metrics": {"miou_all": 0.5}}
    save_checkpoint(path, {"modules": {"model": {"w": torch.ones(2)}}}, meta)
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["modules"]["model"]["w"], torch.ones(2))
    assert path.with_suffix(".json").read_text().count('"task": "15-5"') == 1


def test_checkpoint_of_another_task_or_step_is_refused(tmp_path):
    path = tmp_path / "final.pt"
    save_checkpoint(path, {}, task_meta(get_task("voc", "10-10", 0)))
    checkpoint = load_checkpoint(path)
    check_meta(checkpoint, path, task_meta(get_task("voc", "10-10", 0)))
    with pytest.raises(WilssError, match="task: checkpoint has '10-10'"):
        check_meta(checkpoint, path, task_meta(get_task("voc", "15-5", 0)))
    with pytest.raises(WilssError, match="step"):
        check_meta(checkpoint, path, task_meta(get_task("voc", "10-10", 1)))


def test_missing_or_foreign_file_gives_a_clear_error(tmp_path):
    with pytest.raises(WilssError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WilssError, match="cannot be read"):
        load_checkpoint(junk)


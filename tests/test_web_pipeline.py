"""The Web-WILSS replay pipeline end to end, as a user types it: synthetic web data → captions → select-replay →
pseudo-label with a real step-0 checkpoint → a weak step 1 that replays the result."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import REPO, run_cli
from test_train_e2e import train
from wilss.core import sha256_of

SOURCES, PER_SOURCE, KEPT_PER_SOURCE = 6, 4, 2


def web_command(*args: str) -> None:
    result = run_cli(["wilss.web", *args], cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_replay_pipeline_output_is_what_a_weak_step_replays(tmp_path):
    step0 = train(tmp_path, "train.epochs_base=1", "train.max_iters_per_epoch=2", "train.val_interval=5",
                  f"run_dir={tmp_path / 'run'}")
    assert step0.returncode == 0, step0.stderr[-3000:]
    checkpoint = tmp_path / "run" / "step0" / "checkpoints" / "final.pt"
    dataset = next((tmp_path / "out" / "data").glob("synthetic-*"))
    web = tmp_path / "web"
    generated = run_cli(["wilss.synthetic.web", "--dataset", str(dataset), "--out", str(web), "--per-class", "1",
                         "--per-source", str(PER_SOURCE), "--sources", str(SOURCES), "--size", "40"], cwd=REPO)
    assert generated.returncode == 0, generated.stderr[-3000:]

    captions, selection, replay = tmp_path / "cap", tmp_path / "sel", tmp_path / "replay"
    web_command("captions", "--web-root", str(web), "--out", str(captions))
    web_command("select-replay", "--web-root", str(web), "--captions", str(captions / "captions.tsv"),
                "--mode", "semantic", "--per-source", str(KEPT_PER_SOURCE), "--out", str(selection))
    web_command("pseudo-label", "--web-root", str(web), "--selection", str(selection / "replay_selection.txt"),
                "--checkpoint", str(checkpoint), "--out", str(replay))

    # Each manifest names the exact bytes the previous stage wrote.
    assert manifest(selection)["inputs"]["captions"][0]["sha256"] == sha256_of(captions / "captions.tsv")
    assert manifest(replay)["inputs"]["selection"]["sha256"] == sha256_of(selection / "replay_selection.txt")
    selected = sorted(line.split() for line in (selection / "replay_selection.txt").read_text().splitlines())
    assert 0 < len(selected) <= SOURCES * KEPT_PER_SOURCE
    sources = sorted({source for source, _ in selected})
    assert sorted(p.name for p in replay.iterdir() if p.is_dir()) == sources
    listed = sorted((source, Path(line.split()[0]).name) for source in sources
                    for line in (replay / source / "train_fullPath.txt").read_text().splitlines())
    assert listed == sorted((source, Path(image).name) for source, image in selected)

    step1 = train(tmp_path, "step=1", f"run_dir={tmp_path / 'step1'}", f"step_ckpt={checkpoint}",
                  "train.epochs_incremental=1", "method.pseudo_ep=0", "train.max_iters_per_epoch=2",
                  "train.precision=fp32", "train.channels_last=false", "dataset.crop_size=32",
                  "replay.enabled=true", f"replay.path={replay}", f"replay.num={KEPT_PER_SOURCE}")
    assert step1.returncode == 0, step1.stderr[-3000:]
    replayed = re.search(r"replay: (\d+) images from '(.+?)'; every per-rank batch holds 4 new-class \+ 4 replay",
                         step1.stdout)
    assert replayed and int(replayed[1]) == len(selected) and Path(replayed[2]) == replay, step1.stdout[-2000:]
    results = json.loads((tmp_path / "step1" / "step1" / "results.json").read_text())["sets"]["val"]
    assert results["miou_old"] is not None and results["miou_new"] is not None

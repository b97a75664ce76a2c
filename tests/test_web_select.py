"""`python -m wilss.web select-replay`: the released WordNet rule (parity) and the sentence-embedding rule."""

from __future__ import annotations

import collections
import json
import math
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from wilss.synthetic.voc import ensure_synthetic
from wilss.synthetic.web import ensure_synthetic_web
from wilss.web.nouns import singular_nouns
from wilss.web.wordnet import load_wordnet


@pytest.fixture(scope="module")
def wordnet():
    return load_wordnet()


def test_depth_vector_cosine_of_dog_and_table_matches_hand_computation(wordnet):
    # dog.n.01's hypernym closure (WordNet 3.0) has one synset at each max depth 0..12 (entity ... canine) and two at
    # depth 7 (chordate, domestic_animal); table.n.01 (the data table) has entity, abstraction, group, arrangement,
    # array at depths 0..4. Entries are 0.05 * depth per synset.
    dog = [0.05 * d for d in (0, 1, 2, 3, 4, 5, 6, 14, 8, 9, 10, 11, 12)] + [0.0] * 7
    table = [0.05 * d for d in (0, 1, 2, 3, 4)] + [0.0] * 15
    assert wordnet.depth_vector("dog").tolist() == pytest.approx(dog)
    assert wordnet.depth_vector("table").tolist() == pytest.approx(table)
    assert wordnet.similarity("dog", "table") == pytest.approx(math.sqrt(30 / 797))
    assert wordnet.similarity("dogs", "dog") == pytest.approx(1.0)            # lemmatised as the released code did
    assert math.isnan(wordnet.similarity("entity", "dog"))                      # empty closure: never kept


def test_offline_noun_approximation_keeps_singular_common_nouns_only(wordnet):
    assert singular_nouns("a blurry photo of two dogs next to a wooden table", wordnet) == ["photo", "table"]
    assert singular_nouns("some people standing near a red car", wordnet) == ["car"]
    assert singular_nouns("a screenshot of a potted plant", wordnet) == ["screenshot", "plant"]


def _hand_made_web(root: Path, lines: dict[str, list[str]], classes: str) -> Path:
    """A web root with released-format noun files (empty image files: parity reads only the names)."""
    (root / "captions" / "nouns").mkdir(parents=True)
    for source, rows in lines.items():
        (root / "replay" / source).mkdir(parents=True)
        for row in rows:
            (root / "replay" / source / row.split()[0]).write_bytes(b"")
        (root / "captions" / "nouns" / f"{source}.txt").write_text("\n".join(rows) + "\n")
    (root / "pascal_classes.txt").write_text(classes)
    return root


def _select(web: Path, out: Path, *extra: str, captions: dict[str, str] | None = None) -> list[str]:
    """Run select-replay on a captions.tsv listing the web root's replay images (parity reads the noun files)."""
    images = sorted(p.relative_to(web).as_posix() for p in (web / "replay").glob("*/*"))
    (out / "cap").mkdir(parents=True)
    text = captions or {}
    (out / "cap" / "captions.tsv").write_text("".join(f"{image}\t{text.get(image, 'unused')}\n" for image in images))
    result = run_cli(["wilss.web", "select-replay", "--web-root", str(web), "--captions",
                      str(out / "cap" / "captions.tsv"), "--out", str(out / "sel"), *extra], cwd=REPO)
    assert result.returncode == 0, result.stderr
    return (out / "sel" / "replay_selection.txt").read_text().splitlines()


def test_parity_keeps_the_first_noun_rule_at_most_two_per_source(tmp_path):
    web = _hand_made_web(tmp_path / "web", {
        # released file format: nouns each followed by a space, "bg" when none
        "s1": ["a.jpg photo dog ", "b.jpg dog ", "c.jpg bg", "d.jpg puppy ", "e.jpg dog "],
        "s2": ["a.jpg table ", "b.jpg photo "],
    }, "s1.png table \ns2.png dog \n")   # released swap: s1 shows a dog, s2 a dining table
    kept = _select(web, tmp_path, "--mode", "parity")
    # s1: 'photo dog' only looks at 'photo' (0.34 < 0.6); 'bg' has no noun; b and d pass; e is beyond the limit of 2
    assert kept == ["s1 replay/s1/b.jpg", "s1 replay/s1/d.jpg", "s2 replay/s2/a.jpg"]


def test_parity_switch_reproduces_the_released_class_file_swap(tmp_path):
    web = _hand_made_web(tmp_path / "web", {"s1": ["a.jpg dog "], "s2": ["a.jpg table "]},
                         "s1.png table \ns2.png dog \n")
    assert _select(web, tmp_path / "fixed", "--mode", "parity") == ["s1 replay/s1/a.jpg", "s2 replay/s2/a.jpg"]
    assert _select(web, tmp_path / "bug", "--mode", "parity", "--released-class-file-bug") == []


def test_for_a_step_only_old_classes_match_and_captions_naming_a_new_class_are_dropped(tmp_path):
    # 15-5 step 1: cat is old, sheep new. The released filter matches every class of the source, so images of the
    # new class (trained as its negatives in replay) get in; --task/--step keeps them out.
    web = _hand_made_web(tmp_path / "web", {"s1": ["a.jpg cat ", "b.jpg sheep ", "c.jpg cat "]}, "s1.png cat sheep \n")
    captions = {"replay/s1/a.jpg": "a cat next to two sheep", "replay/s1/b.jpg": "a sheep on a hill",
                "replay/s1/c.jpg": "a cat on a mat"}
    released = _select(web, tmp_path / "released", "--mode", "parity", captions=captions)
    assert released == ["s1 replay/s1/a.jpg", "s1 replay/s1/b.jpg"]
    for mode in ("parity", "semantic"):
        kept = _select(web, tmp_path / mode, "--mode", mode, "--task", "15-5", "--step", "1", captions=captions)
        assert kept == ["s1 replay/s1/c.jpg"], mode


@pytest.fixture(scope="module")
def synthetic_web(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sel")
    dataset = ensure_synthetic(root / "voc", n_train=40, n_val=2, size=32)
    return ensure_synthetic_web(root / "web", dataset, per_class=1, per_source=6, size=32)


def _quality(selection: list[str], truth: dict, per_source: int = 2) -> tuple[float, float]:
    """Precision of the kept images; recall against the most matching images the limit allows per source."""
    kept = [line.split()[1] for line in selection]
    good = sum(not truth[path]["distractor"] for path in kept)
    matching = collections.Counter(path.split("/")[1] for path, entry in truth.items()
                                   if path.startswith("replay/") and not entry["distractor"])
    return good / len(kept), good / sum(min(per_source, n) for n in matching.values())


def test_semantic_beats_parity_on_synthetic_captions_with_identical_manifests(synthetic_web, tmp_path):
    caption = run_cli(["wilss.web", "captions", "--web-root", str(synthetic_web), "--out", str(tmp_path / "cap")],
                      cwd=REPO)
    assert caption.returncode == 0, caption.stderr
    truth = json.loads((synthetic_web / "truth.json").read_text())
    quality = {}
    for mode in ("parity", "semantic"):
        manifests = []
        for run in ("one", "two"):
            out = tmp_path / mode / run
            result = run_cli(["wilss.web", "select-replay", "--web-root", str(synthetic_web), "--captions",
                              str(tmp_path / "cap" / "captions.tsv"), "--mode", mode, "--out", str(out)], cwd=REPO)
            assert result.returncode == 0, result.stderr
            manifests.append((out / "manifest.json").read_bytes())
        assert manifests[0] == manifests[1]
        quality[mode] = _quality((out / "replay_selection.txt").read_text().splitlines(), truth)
    print("precision, recall:", quality)
    assert quality["semantic"][0] > quality["parity"][0]
    assert quality["semantic"][1] > quality["parity"][1]


def test_select_replay_reports_bad_input(synthetic_web, tmp_path):
    result = run_cli(["wilss.web", "select-replay", "--web-root", str(tmp_path / "missing"), "--captions", "x.tsv",
                      "--mode", "parity", "--out", str(tmp_path / "o")], cwd=REPO)
    assert result.returncode == 2 and "--web-root" in result.stderr and "missing" in result.stderr
    result = run_cli(["wilss.web", "select-replay", "--web-root", str(synthetic_web), "--captions",
                      str(tmp_path / "none.tsv"), "--mode", "parity", "--out", str(tmp_path / "o")], cwd=REPO)
    assert result.returncode == 2 and "none.tsv" in result.stderr and "wilss.web captions" in result.stderr
    result = run_cli(["wilss.web", "select-replay", "--web-root", str(synthetic_web), "--captions", "x.tsv",
                      "--mode", "clip", "--out", str(tmp_path / "o")], cwd=REPO)
    assert result.returncode == 2 and "--mode" in result.stderr and "parity" in result.stderr
    result = run_cli(["wilss.web", "select-replay", "--web-root", str(synthetic_web), "--captions", "x.tsv",
                      "--mode", "parity", "--task", "15-5", "--out", str(tmp_path / "o")], cwd=REPO)
    assert result.returncode == 2 and "--step" in result.stderr

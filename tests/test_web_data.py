"""Synthetic web data, the caption vocabulary and `python -m wilss.web captions` (file and model backends)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from wilss.data.caption_files import read_captions, read_nouns
from wilss.data.vocabulary import CLASS_INDEX, labels_of, read_class_file
from wilss.synthetic.voc import ensure_synthetic
from wilss.synthetic.web import ensure_synthetic_web

WEB = {"per_class": 2, "per_source": 4, "sources": 12, "size": 32, "seed": 0}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return ensure_synthetic(tmp_path_factory.mktemp("voc") / "voc", n_train=12, n_val=2, size=32)


@pytest.fixture(scope="module")
def web_root(dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("web") / "web"
    result = run_cli(["wilss.synthetic.web", "--dataset", str(dataset), "--out", str(out), "--per-class", "2",
                      "--per-source", "4", "--sources", "12", "--size", "32"], cwd=REPO)
    assert result.returncode == 0, result.stderr
    return out


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_web_generator_writes_the_shared_layout(web_root, dataset):
    truth = json.loads((web_root / "truth.json").read_text())
    assert sorted(p.name for p in (web_root / "classes").iterdir()) == sorted(CLASS_INDEX)
    sources = sorted(p.name for p in (web_root / "replay").iterdir())
    assert len(sources) == 12 and all(len(list((web_root / "replay" / s).glob("*.jpg"))) == 4 for s in sources)
    images = sorted(str(p.relative_to(web_root)) for kind in ("classes", "replay") for p in (web_root / kind).glob("*/*"))
    assert sorted(truth) == images
    for folder in ("aeroplane", sources[0]):
        names = sorted(read_captions(web_root / "captions" / "raw" / f"{folder}.txt"))
        assert names == sorted(read_nouns(web_root / "captions" / "nouns" / f"{folder}.txt"))
    # every class image shows its class; replay distractors show none of their source's classes
    assert all(CLASS_INDEX[path.split("/")[1]] in entry["classes"] for path, entry in truth.items()
               if path.startswith("classes/"))
    source_classes = read_class_file(web_root / "pascal_classes.txt")
    for path, entry in truth.items():
        if path.startswith("replay/"):
            wanted = {CLASS_INDEX[name] for name in source_classes[path.split("/")[1]]}
            assert entry["distractor"] == (not wanted & set(entry["classes"]))
    assert {entry["distractor"] for path, entry in truth.items() if path.startswith("replay/")} == {True, False}


def test_web_generator_is_byte_identical_and_regenerates_only_on_new_parameters(web_root, dataset, tmp_path):
    again = ensure_synthetic_web(tmp_path / "web", dataset, **WEB)
    assert _digests(again) == _digests(web_root)
    stamp = (again / "synthetic_web.json").stat().st_mtime_ns
    ensure_synthetic_web(again, dataset, **WEB)
    assert (again / "synthetic_web.json").stat().st_mtime_ns == stamp
    ensure_synthetic_web(again, dataset, **{**WEB, "seed": 1})
    assert _digests(again)["truth.json"] != _digests(web_root)["truth.json"]


def test_class_file_is_written_with_the_released_dog_table_swap(tmp_path):
    (tmp_path / "pascal_classes.txt").write_text("a.png chair table \nb.png dog \n")
    assert read_class_file(tmp_path / "pascal_classes.txt") == {"a": ["chair", "dog"], "b": ["diningtable"]}
    assert read_class_file(tmp_path / "pascal_classes.txt", released_bug=True) == {
        "a": ["chair", "diningtable"], "b": ["dog"]}


def test_labels_of_finds_synonyms_plurals_and_phrases():
    assert labels_of("A blurry photo of two dogs next to a wooden table") == [11, 12]
    assert labels_of("an airplane, three motorcycles and some people") == [1, 14, 15]
    assert labels_of("a potted plant on a tv monitor") == [16, 20]
    assert labels_of("a sunset over the ocean") == []
    assert labels_of("a herd of sheep and a kitten") == [8, 17]


def test_captions_file_backend_writes_tsv_and_identical_manifests(web_root, tmp_path):
    outputs = []
    for run in ("one", "two"):
        result = run_cli(["wilss.web", "captions", "--web-root", str(web_root), "--out", str(tmp_path / run)],
                         cwd=REPO)
        assert result.returncode == 0, result.stderr
        outputs.append(tmp_path / run)
    assert (outputs[0] / "manifest.json").read_bytes() == (outputs[1] / "manifest.json").read_bytes()
    rows = dict(line.split("\t") for line in (outputs[0] / "captions.tsv").read_text().splitlines())
    truth = json.loads((web_root / "truth.json").read_text())
    assert sorted(rows) == sorted(truth)
    folder = next(iter(sorted((web_root / "replay").iterdir())))
    raw = read_captions(web_root / "captions" / "raw" / f"{folder.name}.txt")
    assert all(rows[f"replay/{folder.name}/{name}"] == caption for name, caption in raw.items())


def test_captions_fall_back_to_the_released_noun_files(web_root, tmp_path):
    copy = tmp_path / "web"
    for path in web_root.rglob("*"):
        if path.is_file():
            target = copy / path.relative_to(web_root)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    source = sorted((copy / "replay").iterdir())[0].name
    (copy / "captions" / "raw" / f"{source}.txt").unlink()
    result = run_cli(["wilss.web", "captions", "--web-root", str(copy), "--out", str(tmp_path / "out")], cwd=REPO)
    assert result.returncode == 0, result.stderr
    rows = dict(line.split("\t") for line in (tmp_path / "out" / "captions.tsv").read_text().splitlines())
    nouns = read_nouns(copy / "captions" / "nouns" / f"{source}.txt")
    assert all(rows[f"replay/{source}/{name}"] == " ".join(words) for name, words in nouns.items())


def test_captions_report_missing_web_root_and_caption_file(web_root, tmp_path):
    result = run_cli(["wilss.web", "captions", "--web-root", str(tmp_path / "nowhere"), "--out", str(tmp_path)],
                     cwd=REPO)
    assert result.returncode == 2 and "--web-root" in result.stderr and "nowhere" in result.stderr
    broken = tmp_path / "broken"
    (broken / "replay" / "x").mkdir(parents=True)
    (broken / "replay" / "x" / "a.jpg").write_bytes(b"")
    result = run_cli(["wilss.web", "captions", "--web-root", str(broken), "--out", str(tmp_path / "o")], cwd=REPO)
    assert result.returncode == 2 and "captions/raw/x.txt" in result.stderr and "Traceback" not in result.stderr


def _tiny_captioning_model(folder: Path) -> None:
    """A randomly initialised ViT + GPT-2 vision-encoder-decoder with a ten-word tokenizer, saved locally."""
    transformers = pytest.importorskip("transformers")
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["<pad>", "<s>", "</s>", "<unk>", "a", "dog", "photo", "of", "cat", "table"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>",
                                         eos_token="</s>", unk_token="<unk>").save_pretrained(folder)
    encoder = transformers.ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, image_size=32, patch_size=8)
    decoder = transformers.GPT2Config(vocab_size=len(words), n_embd=16, n_layer=1, n_head=2, n_positions=64,
                                      add_cross_attention=True, is_decoder=True, bos_token_id=1, eos_token_id=2,
                                      pad_token_id=0)
    config = transformers.VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 1, 0, 2
    torch.manual_seed(0)
    model = transformers.VisionEncoderDecoderModel(config=config)
    model.generation_config.decoder_start_token_id = 1
    model.generation_config.pad_token_id, model.generation_config.eos_token_id = 0, 2
    model.save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)


def test_captions_model_backend_runs_a_local_model_offline(web_root, tmp_path):
    _tiny_captioning_model(tmp_path / "model")
    outputs = []
    for run in ("one", "two"):
        result = run_cli(["wilss.web", "captions", "--web-root", str(web_root), "--out", str(tmp_path / run),
                          "--backend", "model", "--model", str(tmp_path / "model"), "--max-new-tokens", "4"],
                         cwd=REPO, env={"HF_HUB_OFFLINE": "1"})
        assert result.returncode == 0, result.stderr
        outputs.append(tmp_path / run)
    rows = [line.split("\t") for line in (outputs[0] / "captions.tsv").read_text().splitlines()]
    assert len(rows) == len(json.loads((web_root / "truth.json").read_text()))
    vocabulary = {"a", "dog", "photo", "of", "cat", "table"}
    assert all(set(caption.split()) <= vocabulary for _, caption in rows)
    assert any(caption for _, caption in rows)
    assert (outputs[0] / "manifest.json").read_bytes() == (outputs[1] / "manifest.json").read_bytes()
    assert json.loads((outputs[0] / "manifest.json").read_text())["parameters"]["backend"] == "model"

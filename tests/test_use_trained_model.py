"""Using a trained model (issue 26): `wilss eval` of a kit checkpoint and of one in the original WILSON code's format,
`wilss predict` on a folder of awkward images. One tiny chain (step 0, then WILSON's step 1) is trained once, as a
user runs it, for the whole module."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import REPO, run_cli

from wilss import evaluate_checkpoint, predict, qualitative, visualize
from wilss.core import log
from wilss.data.build import build_eval_datasets
from wilss.data.palette import voc_colormap
from wilss.data.transforms import eval_transform
from wilss.engine.precision import autocast
from wilss.errors import WilssError
from wilss.inference import load_trained_model
from wilss.predict import upsampled_argmax

TINY = ["dataset=synthetic", "model=resnet18", "dataset.generate.train=48", "dataset.generate.val=12",
        "dataset.generate.size=64", "dataset.crop_size=64", "dataset.crop_size_val=64", "train.batch_size=8",
        "train.num_workers=0", "train.device=cpu", "train.epochs_base=1", "train.epochs_incremental=1",
        "eval.batch_size=4"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """The run directory of a finished two-step chain, and the overrides that trained it."""
    root = tmp_path_factory.mktemp("chain")
    overrides = [*TINY, f"output_root={root / 'out'}", f"run_dir={root / 'run'}"]
    result = run_cli(["wilss", "chain", *overrides], cwd=root)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return root / "run", overrides


@pytest.fixture(autouse=True)
def restore_logger():
    """The commands called in this process set up the `wilss` logger (console and a log file); later tests get it
    back as it was."""
    saved = (list(log.handlers), log.level, log.propagate)
    yield
    log.handlers[:] = saved[0]
    log.setLevel(saved[1])
    log.propagate = saved[2]


def user_error(command, argv: list[str], capsys) -> str:
    """The one-paragraph message a command called in this process ends with (exit status 2)."""
    with pytest.raises(SystemExit) as stopped:
        command(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("wilss: error: ") and "Traceback" not in err
    return err


def results(folder):
    return json.loads((folder / "results.json").read_text())


def test_eval_reproduces_the_results_files_of_a_finished_step(chain, tmp_path):
    run, overrides = chain
    step1 = run / "step1"
    # Without overrides: the configuration the checkpoint recorded.
    done = run_cli(["wilss", "eval", "--checkpoint", str(step1 / "checkpoints" / "final.pt"), "--out",
                    str(tmp_path / "step1")], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert results(tmp_path / "step1") == results(step1)
    assert (tmp_path / "step1" / "results.csv").read_text() == (step1 / "results.csv").read_text()
    assert (tmp_path / "step1" / "results.md").read_text() == (step1 / "results.md").read_text()
    assert "evaluation: 12 images" in (tmp_path / "step1" / "eval.log").read_text()
    # With the overrides of the training (step 0, whose final results reused the last validation).
    evaluate_checkpoint.cli(["--checkpoint", str(run / "step0" / "checkpoints" / "final.pt"), *overrides, "step=0",
                             "--out", str(tmp_path / "step0")])
    assert results(tmp_path / "step0") == results(run / "step0")


def original_format(kit_checkpoint, path, with_num_batches_tracked: bool):
    """What the original code's `save_ckpt` (run.py) wrote: the DDP model's state dict under `model_state` (keys
    prefixed `module.`), beside its training state, the weak step's pseudo-labeller and the best score, a numpy
    scalar when saved at a validation; older InPlace-ABN releases had no num_batches_tracked."""
    weights = torch.load(kit_checkpoint, weights_only=True)["modules"]["model"]
    state = {f"module.{key}": value for key, value in weights.items()
             if with_num_batches_tracked or not key.endswith("num_batches_tracked")}
    torch.save({"epoch": 1, "model_state": state, "best_score": np.float64(0.25),
                "optimizer_state": {"state": {}, "param_groups": [{"lr": 0.001, "momentum": 0.9}]},
                "scheduler_state": {"last_epoch": 3, "base_lrs": [0.001]}, "scaler": {"scale": 65536.0},
                "pseudolabeler": {"module.conv.weight": torch.zeros(4, 3, 1, 1)}}, path)
    return path


def test_eval_of_a_checkpoint_in_the_original_format_gives_the_same_numbers(chain, tmp_path, capsys):
    run, overrides = chain
    original = original_format(run / "step1" / "checkpoints" / "final.pt", tmp_path / "wilson_step1.pth",
                               with_num_batches_tracked=False)
    evaluate_checkpoint.cli(["--checkpoint", str(original), "--out", str(tmp_path / "eval"), *overrides, "step=1"])
    assert "original code's format" in (tmp_path / "eval" / "eval.log").read_text()
    assert results(tmp_path / "eval")["sets"] == results(run / "step1")["sets"]
    # The same weights saved alone, as a bare state dict (a colleague's torch.save(model.state_dict())).
    bare = tmp_path / "weights_only.pth"
    torch.save(torch.load(original, weights_only=False)["model_state"], bare)
    evaluate_checkpoint.cli(["--checkpoint", str(bare), "--out", str(tmp_path / "bare"), *overrides, "step=1"])
    assert results(tmp_path / "bare")["sets"] == results(run / "step1")["sets"]

    # It records no task: one of another step is refused by its classifier sizes, naming the file and the option.
    message = user_error(evaluate_checkpoint.cli, ["--checkpoint", str(original), *overrides, "step=0"], capsys)
    assert str(original) in message and "16+5 classes" in message and "task=15-5 step=0" in message
    assert "step=..." in message


def test_a_checkpoint_that_does_not_fit_the_task_or_model_is_refused_with_what_differs(chain, tmp_path):
    run, overrides = chain
    final = run / "step1" / "checkpoints" / "final.pt"
    with pytest.raises(WilssError, match=r"order: checkpoint has \[0, 1, .*, 20\], run expects \[0, 1, .*, 16\]"
                                         r".*--checkpoint=") as caught:
        load_trained_model(final, [*overrides, "task=15-1", "step=1"])
    assert str(final) in str(caught.value)
    # 10-10 has the same class order, not the same classifiers
    with pytest.raises(WilssError, match="classifiers have 16\\+5 classes .* task=10-10 step=1 has 11\\+10"):
        load_trained_model(final, [*overrides, "task=10-10", "step=1"])
    with pytest.raises(WilssError, match="model: checkpoint has .*'resnet18'.*'resnet50'"):
        load_trained_model(final, [*overrides, "model=resnet50", "step=1"])
    original = original_format(final, tmp_path / "wilson.pth", with_num_batches_tracked=True)
    with pytest.raises(WilssError, match=r"does not fit model=resnet50 .*model=\.\.\."):
        load_trained_model(original, [*overrides, "model=resnet50", "step=1"])
    with pytest.raises(WilssError, match="records no configuration .*task=15-5 step=1"):
        load_trained_model(original, [])


def awkward_folder(folder, source: Image.Image):
    """Odd sizes, a grayscale JPEG, a CMYK JPEG, a palette PNG with alpha, and a file that is no image."""
    folder.mkdir()
    source.resize((97, 41)).save(folder / "odd.png")
    source.resize((31, 170)).save(folder / "tall.jpg", quality=95)
    source.convert("L").resize((33, 70)).save(folder / "gray.jpg")
    source.convert("CMYK").resize((50, 51)).save(folder / "cmyk.jpg")
    source.convert("RGBA").convert("P").save(folder / "palette.png")
    source.save(folder / "square.png")  # the model's own input size: its mask is the model's argmax itself
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated, not a JPEG")
    sizes = {path.stem: Image.open(path).size for path in folder.iterdir() if path.stem != "broken"}
    assert Image.open(folder / "cmyk.jpg").mode == "CMYK" and Image.open(folder / "gray.jpg").mode == "L"
    return sizes


def test_predict_writes_a_palette_mask_and_an_overlay_of_the_image_size_and_skips_a_broken_file(chain, tmp_path):
    run, overrides = chain
    data_images = sorted((run.parent / "out" / "data").rglob("syn_val_*.jpg"))
    source = Image.open(data_images[0]).convert("RGB")
    assert source.size == (64, 64)
    sizes = awkward_folder(tmp_path / "images", source)
    out = tmp_path / "predicted"
    config = [*overrides, "step=1", "train.precision=fp32"]
    done = run_cli(["wilss", "predict", "--checkpoint", str(run / "step1" / "checkpoints" / "final.pt"),
                    str(tmp_path / "images"), "--out", str(out), "--batch-size", "3", "--workers", "1", *config],
                   cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "broken.jpg" in done.stderr and "cannot be read" in done.stderr
    assert "prediction: 7 images" in done.stdout and "wrote 6 mask(s)" in done.stdout

    classes = json.loads((out / "classes.json").read_text())
    assert classes["0"] == "background" and classes["20"] == "tvmonitor" and len(classes) == 21
    palette = voc_colormap(256).flatten().tolist()
    for stem, size in sizes.items():
        mask = Image.open(out / "masks" / f"{stem}.png")
        assert mask.mode == "P" and mask.size == size, stem
        assert mask.getpalette()[:len(palette)] == palette
        assert set(np.unique(np.array(mask)).tolist()) <= {int(c) for c in classes}
        assert Image.open(out / "overlays" / f"{stem}.jpg").size == size
    assert not (out / "masks" / "broken.png").exists()
    rows = (out / "predictions.csv").read_text().splitlines()
    assert len(rows) == 1 + len(sizes)

    # The square image's mask is the model's prediction at full resolution.
    trained = load_trained_model(run / "step1" / "checkpoints" / "final.pt", config)
    image = eval_transform(64, "full")(source).unsqueeze(0)
    with torch.inference_mode(), autocast(trained.device, trained.precision):
        expected = trained.model(image)[0][0].argmax(0).numpy()
    predicted = np.array(Image.open(out / "masks" / "square.png"))
    assert (predicted == expected).all()
    assert len(np.unique(expected)) > 1  # a mask of one class would hide a mix-up of positions


def test_logits_resized_in_bands_give_the_argmax_of_the_whole_resize():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 7, 9, generator=generator)
    whole = F.interpolate(logits[None], size=(23, 31), mode="bilinear", align_corners=False)[0].argmax(0)
    banded = upsampled_argmax(logits, 23, 31, band_bytes=4 * 5 * 31 * 4)  # 4 rows a band: 6 bands
    assert torch.equal(banded, whole)
    assert torch.equal(upsampled_argmax(logits, 7, 9), logits.argmax(0))


def test_predict_names_a_missing_input(chain, tmp_path, capsys):
    run, _ = chain
    message = user_error(predict.cli, ["--checkpoint", str(run / "step1" / "checkpoints" / "final.pt"),
                                       str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")], capsys)
    assert f"input '{tmp_path / 'nowhere'}' does not exist" in message


def test_the_qualitative_figure_shows_image_truth_each_step_and_the_weak_steps_pseudo_label(chain, tmp_path, capsys):
    run, _ = chain
    out = tmp_path / "figure.png"
    qualitative.cli([str(run), "--images", "2", "--out", str(out)])
    assert f"wrote {out}" in capsys.readouterr().out
    figure = np.array(Image.open(out).convert("RGB"))
    side, pad, title = 64, visualize.PAD, visualize.TEXT_ROW
    titles = ("image", "ground truth", "step 0", "step 1", "pseudo-label 1")
    assert figure.shape[1] == len(titles) * (side + pad) + pad

    # Each tile is what it says: the rows are validation images that show a class step 1 added.
    step1 = load_trained_model(run / "step1" / "checkpoints" / "final.pt", [])
    dataset = build_eval_datasets(step1.cfg.dataset, step1.task, "parity")["val"]
    index = qualitative.choose_images(dataset, step1.task.num_old, 2, None)[0]
    sample = dataset[(index, 0)]
    assert (sample["mask"] >= step1.task.num_old).logical_and(sample["mask"] != 255).any()
    step0 = load_trained_model(run / "step0" / "checkpoints" / "final.pt", [])

    def tile(column: int) -> np.ndarray:
        left = pad + column * (side + pad)
        return figure[title:title + side, left:left + side]

    def colours(labels: torch.Tensor) -> np.ndarray:
        return (visualize.colorize(labels).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)

    assert (tile(1) == colours(sample["mask"])).all()
    for column, trained in ((2, step0), (3, step1)):
        assert (tile(column) == colours(qualitative.predictions(trained, sample["image"][None])[0])).all()
    assert not (tile(4) == tile(3)).all()  # the pseudo-label is its own column, not a copy of the prediction


def test_the_readme_shows_the_demo_chains_qualitative_figure():
    """docs/qualitative_demo.png is `wilss figure` of the demo chain: 128-pixel tiles under five titles (image,
    ground truth, step 0, step 1, pseudo-label 1), and the README shows it."""
    figure = REPO / "docs" / "qualitative_demo.png"
    assert "](docs/qualitative_demo.png)" in (REPO / "README.md").read_text()
    assert Image.open(figure).width == 5 * (128 + visualize.PAD) + visualize.PAD

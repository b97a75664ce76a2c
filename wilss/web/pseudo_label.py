"""`python -m wilss.web pseudo-label`: label the selected replay images with the step-0 model and write them in the
released replay layout (docs/web_wilss.md).

Input: `replay_selection.txt` ('<source id> <image path>', paths relative to the web root, from
`python -m wilss.web select-replay`) and the step-0 `final.pt` of the task. Each image goes through the model
alone, at its full resolution, single scale, in eval mode, with the kit's ImageNet normalisation; the argmax is
saved as an 8-bit PNG of step-0 channel indices. Output (`--out P`, replaced as a whole, so a crash never leaves
a half-written folder that looks complete):
  P/<source id>/image/<file>         copy of the web image
  P/<source id>/label/<stem>.png     its pseudo-label
  P/<source id>/train_fullPath.txt   '<absolute image path> <absolute label path>' per image, sorted
  P/manifest.json                    checkpoint sha256, input and output checksums

Unlike the released `generate_label.py`, the checkpoint must be a step-0 checkpoint of the expected task and fit
the model key for key (the original loaded whatever keys matched and silently skipped the rest).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from wilss.atomic import atomic_write_folder
from wilss.checkpoint import check_meta, load_checkpoint, task_meta
from wilss.core import sha256_of
from wilss.data.validate import open_image
from wilss.data.replay import LIST_FILE
from wilss.data.tasks import Task, get_task
from wilss.data.transforms import eval_transform
from wilss.errors import WilssError, exit_on_user_error
from wilss.model_spec import ModelSpec, model_spec
from wilss.models import IncrementalSegmentationModel, build_model
from wilss.web.manifest import file_records, read_manifest, write_manifest

COMMAND = "pseudo-label"


# ------------------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------------------

def read_replay_selection(path: Path, web_root: Path) -> dict[str, list[Path]]:
    """{source id: its selected web images}, sorted; every line well formed, every image present, and no two
    images of one source with the same file name (they would overwrite each other in `image/`)."""
    if not path.is_file():
        raise WilssError(f"selection '{path}' does not exist (option --selection); write it with "
                         "python -m wilss.web select-replay.")
    selection: dict[str, list[Path]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise WilssError(f"{path}:{number}: expected '<source id> <image path>', got '{line}'. Fix the line or "
                             "regenerate the file with python -m wilss.web select-replay.")
        image = web_root / fields[1]
        if not image.is_file():
            raise WilssError(f"{path}:{number}: image '{image}' does not exist; is --web-root the folder the "
                             "selection's paths are relative to?")
        selection.setdefault(fields[0], []).append(image)
    for source, images in selection.items():
        names = [image.name for image in images]
        clashing = sorted({name for name in names if names.count(name) > 1})
        if clashing:
            raise WilssError(f"{path}: source '{source}' lists two images named {clashing[0]}; their copies would "
                             "overwrite each other. Keep one of them.")
    if not selection:
        raise WilssError(f"selection '{path}' lists no image (option --selection).")
    return {source: sorted(selection[source]) for source in sorted(selection)}


def _expected_task(found: dict, dataset: str | None, task_name: str | None, path: Path) -> Task:
    """The step-0 task the checkpoint must belong to: the options, or else what the checkpoint says."""
    if found.get("step") != 0:
        raise WilssError(f"checkpoint '{path}' (option --checkpoint) is a step-{found.get('step')} checkpoint; "
                         "pseudo-labels come from the step-0 model: pass <run dir>/step0/checkpoints/final.pt.")
    return get_task(dataset or found.get("dataset"), task_name or found.get("task"), 0)


def load_step0_model(path: Path, dataset: str | None, task_name: str | None) -> tuple[IncrementalSegmentationModel,
                                                                                     Task, dict]:
    """The step-0 model of a kit checkpoint, built from the config stored in it and loaded strictly."""
    checkpoint = load_checkpoint(path, option="--checkpoint")
    found = checkpoint.get("meta") if isinstance(checkpoint, dict) else None
    if not isinstance(found, dict) or "model" not in checkpoint.get("modules", {}) or "config" not in found:
        raise WilssError(f"checkpoint '{path}' (option --checkpoint) is not a wilss step checkpoint (no model "
                         "weights or no metadata); pass the final.pt that python -m wilss.train wrote for step 0.")
    task = _expected_task(found, dataset, task_name, path)
    check_meta(checkpoint, path, task_meta(task), option="--task/--dataset or --checkpoint")
    # Checkpoints of older kit versions record only the config the spec is derived from.
    stored = found.get("model_spec")
    spec = ModelSpec.from_dict(stored) if stored else model_spec(found["config"], task.classes_per_step, True)
    model = build_model(**spec.without_weights_file().to_dict())
    try:
        model.load_state_dict(checkpoint["modules"]["model"])
    except RuntimeError as err:
        raise WilssError(f"checkpoint '{path}' (option --checkpoint) does not fit the step-0 model of its own "
                         f"configuration ({spec.backbone}): {err}") from None
    return model.eval(), task, found["config"]


# ------------------------------------------------------------------------------------------------------------
# Labelling and writing
# ------------------------------------------------------------------------------------------------------------

@torch.inference_mode()
def predict_label(model: IncrementalSegmentationModel, image: Image.Image, device: torch.device) -> np.ndarray:
    """Step-0 channel index of every pixel: one image, full resolution, single scale, fp32."""
    pixels = eval_transform(0, "full")(image).as_subclass(torch.Tensor).unsqueeze(0).to(device)
    logits, _ = model(pixels)
    return logits[0].argmax(dim=0).to(torch.uint8).cpu().numpy()


def label_name(image: Path) -> str:
    return f"{image.stem}.png"


def write_source(folder: Path, final_folder: Path, images: list[Path], label: Callable[[Path], np.ndarray]) -> None:
    """One source folder: image copies, label PNGs and the list naming them by their final absolute paths."""
    (folder / "image").mkdir(parents=True)
    (folder / "label").mkdir()
    lines = []
    for image in images:
        shutil.copyfile(image, folder / "image" / image.name)
        Image.fromarray(label(image), mode="L").save(folder / "label" / label_name(image))
        lines.append(f"{(final_folder / 'image' / image.name).as_posix()} "
                     f"{(final_folder / 'label' / label_name(image)).as_posix()}")
    (folder / LIST_FILE).write_text("".join(f"{line}\n" for line in sorted(lines)))


def replace_folder(out: Path, write: Callable[[Path], None]) -> None:
    """Write into a temporary sibling with `write(work)`, then swap it for `out`. Refuses to replace a folder
    that holds anything but an earlier output of this command."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and read_manifest(out).get("command") != COMMAND)):
        raise WilssError(f"--out '{out}' exists and is not an earlier output of python -m wilss.web {COMMAND}; "
                         "refusing to replace it. Choose another folder or remove this one.")
    atomic_write_folder(out, write)


def run(args: argparse.Namespace) -> None:
    selection = read_replay_selection(args.selection, args.web_root)
    device = torch.device(args.device)
    model, task, _ = load_step0_model(args.checkpoint, args.dataset, args.task)
    model.to(device)
    out = args.out.resolve()
    images = [image for source in selection for image in selection[source]]

    def write(work: Path) -> None:
        for source, source_images in selection.items():
            write_source(work / source, out / source, source_images,
                         lambda image: predict_label(model, open_image(image), device))
        written = sorted(path for path in work.rglob("*") if path.is_file())
        write_manifest(work, COMMAND,
                       parameters={"checkpoint_meta": task_meta(task), "device": args.device,
                                   "inference": "full resolution, single scale, eval mode, fp32, one image at a time"},
                       inputs={"checkpoint": {"name": args.checkpoint.name, "sha256": sha256_of(args.checkpoint)},
                               "selection": {"name": args.selection.name, "sha256": sha256_of(args.selection)},
                               "images": file_records(images, args.web_root)},
                       outputs={"sources": len(selection), "images": len(images),
                                "files": file_records(written, work)})

    replace_folder(out, write)
    print(f"labelled {len(images)} replay images of {len(selection)} source images with the step-0 model of "
          f"{task.dataset} {task.name}; wrote {out}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m wilss.web {COMMAND}",
        description="Label the selected replay web images with the step-0 model (full resolution, single scale) "
                    "and write the released replay layout <out>/<source id>/{image,label,train_fullPath.txt}.")
    p.add_argument("--web-root", type=Path, required=True, help="web data root the selection's paths start from")
    p.add_argument("--selection", type=Path, required=True, help="replay_selection.txt of select-replay")
    p.add_argument("--checkpoint", type=Path, required=True, help="step-0 final.pt of python -m wilss.train")
    p.add_argument("--out", type=Path, required=True, help="replay folder to write (replaced as a whole)")
    p.add_argument("--dataset", default=None, help="expected dataset of the checkpoint (default: as recorded in it)")
    p.add_argument("--task", default=None, help="expected task of the checkpoint, e.g. 15-5 (default: as recorded)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    return p


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    run(parser().parse_args(argv))

"""`wilss figure RUN_DIR [--images N | --ids ID,...] [--out FILE]`: the papers' qualitative figure of a chain.

One row per chosen validation image: the image, its ground truth (every class of the chain's last finished step),
the prediction after each step of the chain, and, for each weak step, the pseudo-label it learned from (its
localizer's and its old model's targets for the image's new classes, as in TensorBoard's panels), under a legend of
the classes shown. The images are those of the last finished step's validation set (central crop, eval.mode=parity)
that show a class it added, unless `--ids` names them.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from wilss import distributed
from wilss.checkpoint import load_checked, run_meta
from wilss.data.build import build_eval_datasets
from wilss.engine.precision import autocast
from wilss.errors import WilssError, exit_on_user_error
from wilss.inference import TrainedModel, load_trained_model
from wilss.layout import RunLayout, StepLayout
from wilss.spec import resolve
from wilss.train import build_method, build_step_model
from wilss.visualize import panel_grid


def finished_steps(run_dir: Path) -> list[tuple[int, StepLayout]]:
    steps = [(step, files) for step, files in RunLayout(run_dir).existing_steps() if files.final.is_file()]
    if not steps or steps[0][0] != 0:
        raise WilssError(f"'{run_dir}' holds no finished step 0 (step0/checkpoints/final.pt): give the run directory "
                         "of a chain (wilss chain ... run_dir=DIR, or <output_root>/<dataset>-<task>/<name>).")
    return steps


def choose_images(dataset, num_old: int, count: int, ids: list[str] | None) -> list[int]:
    """Indices of the images named by `ids`, else of the first `count` showing a class added by the last step."""
    stems = [Path(path).stem for path in dataset.images]
    if ids:
        unknown = [image_id for image_id in ids if image_id not in stems]
        if unknown:
            raise WilssError(f"--ids: {', '.join(unknown)} not in the validation set ({len(stems)} images, e.g. "
                             f"{', '.join(stems[:3])}).")
        return [stems.index(image_id) for image_id in ids]
    new = np.flatnonzero(np.asarray(dataset.image_labels)[:, max(num_old - 1, 0):].any(axis=1))
    chosen = list(new[:count]) + [i for i in range(len(stems)) if i not in set(new)][:max(0, count - len(new))]
    return [int(i) for i in chosen]


def predictions(trained: TrainedModel, images: torch.Tensor) -> torch.Tensor:
    inputs = images.to(trained.device)
    if trained.channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(trained.device, trained.precision):
        return trained.model(inputs)[0].argmax(dim=1).cpu()


def weak_step_pseudo_labels(trained: TrainedModel, files: StepLayout, previous: StepLayout, images: torch.Tensor,
                            masks: torch.Tensor) -> torch.Tensor | None:
    """The weak step's targets for `images`, from its last resume state (model and localizer after the last
    epoch) and step t−1's final weights (the old model); None when the step kept no resume state."""
    if not files.last.is_file():
        return None
    cfg = trained.cfg
    step = replace(resolve(cfg).current, previous_final=previous.final)
    run = replace(trained.run, compile=False)  # one batch: compiling would not pay
    state = load_checked(files.last, run_meta(step.task, cfg.overlap, cfg.model), "RUN_DIR", resume=True)
    before = load_checked(previous.final, run_meta(step.previous_task, cfg.overlap, cfg.model), "RUN_DIR")
    model = build_step_model(step.model, run)
    method = build_method(cfg, step, model, trained.dist, run, before)
    if not hasattr(method, "pseudo_labels"):
        return None
    for name, module in method.modules().items():
        module.load_state_dict(state["modules"][name])
    inputs = images.to(trained.device)
    if trained.channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    with autocast(trained.device, trained.precision):
        return method.pseudo_labels(inputs, masks.to(trained.device)).cpu()


def qualitative_figure(run_dir: Path, count: int = 4, ids: list[str] | None = None,
                       device: str | None = None) -> Image.Image:
    steps = finished_steps(Path(run_dir))
    models = {step: load_trained_model(files.final, [], device) for step, files in steps}
    last = models[steps[-1][0]]
    dataset = build_eval_datasets(last.cfg.dataset, last.task, "parity")["val"]
    samples = [dataset[(index, 0)] for index in choose_images(dataset, last.task.num_old, count, ids)]
    images = torch.stack([sample["image"] for sample in samples])
    masks = torch.stack([sample["mask"] for sample in samples])
    columns, titles = [masks], ["image", "ground truth"]
    layouts = dict(steps)
    for step, trained in models.items():
        # A step's labels are the positions of its classes in the task order, the same at every later step.
        columns.append(predictions(trained, images))
        titles.append(f"step {step}")
        if step > 0 and resolve(trained.cfg).current.recipe.weak and step - 1 in layouts:
            pseudo = weak_step_pseudo_labels(trained, layouts[step], layouts[step - 1], images, masks)
            if pseudo is not None:
                columns.append(pseudo)
                titles.append(f"pseudo-label {step}")
    rows = [(image, *(column[i] for column in columns)) for i, image in enumerate(images)]
    grid = panel_grid(rows, last.class_names, tuple(titles))
    return Image.fromarray((grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="wilss figure", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run directory of a chain")
    parser.add_argument("--images", type=int, default=4, help="how many validation images (rows; default 4)")
    parser.add_argument("--ids", default=None, help="the validation images to show, by id (file stem), comma-separated")
    parser.add_argument("--out", type=Path, default=None, help="the PNG to write (default RUN_DIR/qualitative.png)")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: train.device)")
    args = parser.parse_args(argv)
    if args.images < 1:
        raise WilssError(f"--images={args.images}: choose 1 or more.")
    out = args.out or args.run_dir / "qualitative.png"
    try:
        figure = qualitative_figure(args.run_dir, args.images, args.ids.split(",") if args.ids else None, args.device)
    finally:
        distributed.shutdown()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.save(out)
    print(f"wrote {out} ({figure.width}x{figure.height})")


if __name__ == "__main__":
    cli()

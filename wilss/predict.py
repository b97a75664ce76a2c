"""`wilss predict --checkpoint FILE INPUT... --out DIR`: segment images of any size with a trained checkpoint.

Per image, `masks/<name>.png` (a palette PNG of class ids, the VOC colour map: what VOC tools and image viewers
read) and `overlays/<name>.jpg` (the classes' colours over the image), both of the image's own size, and for the
whole folder `classes.json` (class id -> name, from the checkpoint) and `predictions.csv` (the classes found in
each image). Each image is scaled so that its longer side is `--size` pixels (default: the configuration's
dataset.crop_size_val, the scale the model was evaluated at), padded to a square so that images of any size go
through the model in batches, and the logits of the image's part are resized back to the image's size. Images
that cannot be read are named and skipped; the others are written all the same.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as TF

from wilss import distributed
from wilss.core import ProgressLine
from wilss.data.palette import voc_colormap
from wilss.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from wilss.engine.precision import autocast
from wilss.errors import WilssError, exit_on_user_error
from wilss.inference import OPTION, TrainedModel, load_trained_model

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
LIST_SUFFIXES = (".txt", ".lst")
OVERLAY_ALPHA = 0.5
BAND_BYTES = 64 * 2**20   # the logits resized back to the image's size, a band of rows at a time
PALETTE = voc_colormap(256)


def list_images(inputs: list[Path]) -> list[Path]:
    """The images named by `inputs`: a folder's image files (by suffix, sorted), a list file's lines (paths
    relative to the list's folder), or an image file itself."""
    images: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            images += sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.is_file() and item.suffix.lower() in LIST_SUFFIXES:
            lines = [line.strip() for line in item.read_text().splitlines()]
            images += [item.parent / line for line in lines if line and not line.startswith("#")]
        elif item.is_file():
            images.append(item)
        else:
            raise WilssError(f"input '{item}' does not exist: name image files, folders of images or list files "
                             f"({'/'.join(LIST_SUFFIXES)}, one path per line).")
    if not images:
        raise WilssError(f"no images in {', '.join(map(str, inputs))} (image files end in "
                         f"{', '.join(IMAGE_SUFFIXES)}).")
    return images


def output_names(images: list[Path]) -> list[str]:
    """The images' stems, made unique (a.jpg and a.png: 'a' and 'a_2')."""
    names, seen = [], set()
    for image in images:
        name, count = image.stem, 1
        while name in seen:
            count += 1
            name = f"{image.stem}_{count}"
        seen.add(name)
        names.append(name)
    return names


@dataclass
class Loaded:
    """One input: its pixels (H, W, 3 uint8) and the model's input (3, size, size) with the image in its top-left
    (h, w) corner, or why it could not be read."""

    index: int
    rgb: torch.Tensor | None = None
    model_input: torch.Tensor | None = None
    valid: tuple[int, int] = (0, 0)
    error: str | None = None


class ImageFiles(Dataset):
    def __init__(self, paths: list[Path], size: int) -> None:
        self.paths, self.size = paths, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Loaded:
        try:
            with Image.open(self.paths[index]) as image:
                image.load()
                rgb = image.convert("RGB")  # grayscale, palette, CMYK, RGBA: three channels
        except Exception as err:  # noqa: BLE001 - any decoding failure means the same: skip the file, say why
            return Loaded(index, error=f"{type(err).__name__}: {err}")
        width, height = rgb.size
        scale = self.size / max(width, height)
        valid = (max(1, round(height * scale)), max(1, round(width * scale)))
        pixels = torch.from_numpy(np.asarray(rgb).copy())
        resized = TF.resize(pixels.permute(2, 0, 1), list(valid), antialias=True)
        normalized = TF.normalize(TF.to_dtype(resized, torch.float32, scale=True), IMAGENET_MEAN, IMAGENET_STD)
        model_input = F.pad(normalized, (0, self.size - valid[1], 0, self.size - valid[0]))
        return Loaded(index, pixels, model_input, valid)


def _as_list(items: list[Loaded]) -> list[Loaded]:
    return items


def upsampled_argmax(logits: torch.Tensor, height: int, width: int, band_bytes: int = BAND_BYTES) -> torch.Tensor:
    """argmax over classes of `logits` (C, h, w) resized bilinearly (align_corners=False, as F.interpolate) to
    (height, width), computed a band of rows at a time so that a large image never holds all its logits."""
    classes = logits.shape[0]
    rows = max(1, band_bytes // (4 * classes * width))
    source = logits.float().unsqueeze(0)
    xs = (torch.arange(width, device=logits.device, dtype=torch.float32) + 0.5) / width * 2 - 1
    labels = torch.empty(height, width, dtype=torch.long, device=logits.device)
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        ys = (torch.arange(top, bottom, device=logits.device, dtype=torch.float32) + 0.5) / height * 2 - 1
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).unsqueeze(0)
        band = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
        labels[top:bottom] = band[0].argmax(dim=0)
    return labels


def overlay(rgb: np.ndarray, class_ids: np.ndarray) -> Image.Image:
    """The classes' colours blended over the image; background pixels keep the image's."""
    image = Image.fromarray(rgb)
    blended = Image.blend(image, Image.fromarray(PALETTE[class_ids]), OVERLAY_ALPHA)  # in uint8: large images fit
    return Image.composite(blended, image, Image.fromarray(((class_ids > 0) * 255).astype(np.uint8)))


def mask_image(class_ids: np.ndarray) -> Image.Image:
    mask = Image.fromarray(class_ids.astype(np.uint8), mode="P")
    mask.putpalette(PALETTE.flatten().tolist())
    return mask


@torch.inference_mode()
def predict(trained: TrainedModel, images: list[Path], out: Path, size: int, batch_size: int,
            workers: int) -> list[tuple[Path, str]]:
    """Write the mask and the overlay of every readable image; return the (image, reason) of those skipped."""
    (out / "masks").mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(parents=True, exist_ok=True)
    order = list(trained.task.order)
    names = dict(zip(order, trained.class_names))
    (out / "classes.json").write_text(json.dumps({str(c): names[c] for c in order}, indent=2) + "\n")
    to_class_id = torch.tensor(order, dtype=torch.uint8)
    stems = output_names(images)
    loader = DataLoader(ImageFiles(images, size), batch_size=batch_size, num_workers=workers,
                        collate_fn=_as_list)
    skipped, rows = [], []
    progress = ProgressLine("prediction", len(images))
    for batch in loader:
        readable = [item for item in batch if item.error is None]
        for item in (item for item in batch if item.error is not None):
            skipped.append((images[item.index], item.error))
            print(f"wilss predict: skipped '{images[item.index]}': cannot be read as an image ({item.error})",
                  file=sys.stderr, flush=True)
        if readable:
            inputs = torch.stack([item.model_input for item in readable]).to(trained.device)
            if trained.channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            with autocast(trained.device, trained.precision):
                logits, _ = trained.model(inputs)
            for item, item_logits in zip(readable, logits):
                height, width = item.rgb.shape[:2]
                part = item_logits[:, :item.valid[0], :item.valid[1]]
                class_ids = to_class_id[upsampled_argmax(part, height, width).cpu()].numpy()
                stem = stems[item.index]
                mask_image(class_ids).save(out / "masks" / f"{stem}.png")
                overlay(item.rgb.numpy(), class_ids).save(out / "overlays" / f"{stem}.jpg", quality=90)
                found = set(np.unique(class_ids).tolist())
                present = [names[c] for c in order if c in found]
                rows.append([str(images[item.index]), f"masks/{stem}.png", f"overlays/{stem}.jpg", " ".join(present)])
        progress.advance(len(batch))
    progress.finish()
    with open(out / "predictions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "mask", "overlay", "classes"])
        writer.writerows(sorted(rows))
    return skipped


DESCRIPTION = """Segment images of any size with a checkpoint (the kit's final.pt, or one of the original WILSON
code with overrides naming its task). Writes, in --out: masks/<name>.png (palette PNG of class ids, VOC colours, the
image's size), overlays/<name>.jpg, classes.json (class id -> name, from the checkpoint) and predictions.csv.
INPUT: image files, folders of images, or list files (.txt, one path per line). Unreadable images are named and
skipped; the exit status is then 1, after the other images were written.

The configuration is the one the checkpoint recorded, or the one the Hydra overrides compose (as for wilss train:
dataset, task, step, model), which the checkpoint must fit.

Examples:
  wilss predict --checkpoint outputs/synthetic-15-5/demo/step1/checkpoints/final.pt photos/ --out predictions
  wilss predict --checkpoint wilson_15-5_step1.pth photos/ --out predictions task=15-5 step=1 --device cuda
"""


@exit_on_user_error
def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wilss predict", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(OPTION, required=True, type=Path, metavar="FILE", help="the trained checkpoint")
    parser.add_argument("--out", type=Path, required=True, help="folder for masks/, overlays/ and the lists")
    parser.add_argument("--size", type=int, default=None,
                        help="longer image side the model sees, in pixels (default: dataset.crop_size_val)")
    parser.add_argument("--batch-size", type=int, default=None, help="images per batch (default: eval.batch_size)")
    parser.add_argument("--workers", type=int, default=2, help="processes reading the images (default 2)")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: train.device)")
    parser.add_argument("args", nargs="+", metavar="INPUT | key=value",
                        help="images, folders or list files, then Hydra overrides (key=value)")
    args = parser.parse_intermixed_args(argv)
    overrides = [a for a in args.args if "=" in a and not Path(a).exists()]
    inputs = [Path(a) for a in args.args if a not in overrides]
    for name, value in (("--size", args.size), ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise WilssError(f"{name}={value}: choose a positive number.")
    if args.workers < 0:
        raise WilssError(f"--workers={args.workers}: choose 0 (read in this process) or more.")
    if not inputs:
        raise WilssError("no INPUT: name image files, folders of images or list files.")
    images = list_images(inputs)
    try:
        trained = load_trained_model(args.checkpoint, overrides, args.device)
        size = args.size or trained.cfg.dataset.crop_size_val
        batch_size = args.batch_size or trained.cfg.eval.batch_size
        skipped = predict(trained, images, args.out, size, batch_size, args.workers)
    finally:
        distributed.shutdown()
    written = len(images) - len(skipped)
    print(f"wrote {written} mask(s) and overlay(s) to {args.out}" + (
        f"; skipped {len(skipped)} unreadable: {', '.join(str(path) for path, _ in skipped)}" if skipped else ""))
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(cli())

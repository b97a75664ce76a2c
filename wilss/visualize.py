"""Image panels for TensorBoard: one row per validation image (image | ground truth | prediction, and the
pseudo-label in weak steps), titled columns, and a legend of the classes the panel shows, in the VOC colour map."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from wilss.data.palette import voc_colormap
from wilss.data.transforms import IMAGENET_MEAN, IMAGENET_STD

_COLORS = torch.from_numpy(voc_colormap(256)).float() / 255.0
VOID = 255
PAD, TEXT_ROW, SWATCH = 4, 14, 10  # pixels; PIL's built-in font is about 11 px high


def denormalize(image: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (image.float().cpu() * std + mean).clamp(0, 1)


def colorize(labels: torch.Tensor) -> torch.Tensor:
    """(H, W) labels -> (3, H, W) colours in [0, 1]."""
    return _COLORS[labels.long().clamp(0, 255)].permute(2, 0, 1)


def _pil(tile: torch.Tensor) -> Image.Image:
    return Image.fromarray((tile.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def _legend(classes: list[int], names: list[str], width: int) -> Image.Image:
    """Colour swatch and name of each class, wrapped to `width`."""
    label = {VOID: "void (not scored)"}
    entries = [(label.get(c) or (names[c] if c < len(names) else str(c)), tuple(int(v * 255) for v in _COLORS[c]))
               for c in classes]
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    widths = [SWATCH + 3 + int(draw.textlength(name)) + 2 * PAD for name, _ in entries]
    rows, x = 1, 0
    for entry_width in widths:
        if x and x + entry_width > width:
            rows, x = rows + 1, 0
        x += entry_width
    legend = Image.new("RGB", (width, rows * TEXT_ROW + PAD), "white")
    draw, x, y = ImageDraw.Draw(legend), 0, PAD // 2
    for (name, color), entry_width in zip(entries, widths):
        if x and x + entry_width > width:
            x, y = 0, y + TEXT_ROW
        draw.rectangle([x + PAD, y + 1, x + PAD + SWATCH, y + 1 + SWATCH], fill=color, outline="black")
        draw.text((x + PAD + SWATCH + 3, y), name, fill="black")
        x += entry_width
    return legend


def panel_grid(panels: list[tuple[torch.Tensor, ...]], class_names: list[str],
               titles: tuple[str, ...] = ("image", "ground truth", "prediction")) -> torch.Tensor:
    """One row per sample: (image, ground truth, prediction[, pseudo-label]) under the column `titles`, then the
    legend of every class any label map shows. Returns a (3, H, W) image in [0, 1]."""
    rows = [[denormalize(image), *(colorize(labels) for labels in label_maps)] for image, *label_maps in panels]
    height, width = rows[0][0].shape[-2:]
    canvas_width = len(titles) * (width + PAD) + PAD
    shown = sorted({int(c) for _, *label_maps in panels for labels in label_maps for c in labels.unique()})
    legend = _legend(shown, class_names, canvas_width)
    canvas = Image.new("RGB", (canvas_width, TEXT_ROW + len(rows) * (height + PAD) + legend.height), "white")
    draw = ImageDraw.Draw(canvas)
    for column, title in enumerate(titles):
        draw.text((PAD + column * (width + PAD), 1), title, fill="black")
    for row, tiles in enumerate(rows):
        for column, tile in enumerate(tiles):
            canvas.paste(_pil(tile), (PAD + column * (width + PAD), TEXT_ROW + row * (height + PAD)))
    canvas.paste(legend, (0, TEXT_ROW + len(rows) * (height + PAD)))
    return torch.from_numpy(np.array(canvas)).permute(2, 0, 1).float() / 255.0

"""The input of the domain discriminator: the log-amplitude spectrum of an image.

Reconstructed from the paper's description (M_D(|F(x)|), docs/method.md, "Web-WILSS"; no code was released):
the central `size`² crop of the image at its own resolution, so every spectrum has the same frequency grid, no
aspect-ratio cue survives, and the high frequencies, where sensor noise, blur and compression differ between
domains, are kept (resizing would low-pass them away; only an image smaller than `size` is upscaled, shorter side
first); each RGB channel in [0, 1] gets its 2-D FFT, zero frequency shifted to the centre;
the amplitude goes through log1p and is divided by log1p(size²) — the largest possible amplitude (the DC term of an
all-white channel) — so values lie in [0, 1] whatever the image. The phase, which carries most of the layout and
hence the semantics, is dropped.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms import v2

from wilss.errors import WilssError


def log_amplitude(image: torch.Tensor) -> torch.Tensor:
    """(..., C, H, W) intensities in [0, 1] → (..., C, H, W) centred log-amplitude spectrum in [0, 1]."""
    spectrum = torch.fft.fftshift(torch.fft.fft2(image), dim=(-2, -1))
    height, width = image.shape[-2:]
    return torch.log1p(spectrum.abs()) / math.log1p(height * width)


def central_crop(image: Image.Image, size: int) -> torch.Tensor:
    """PIL image → (3, size, size) float tensor in [0, 1]: the central crop at the image's own resolution."""
    if min(image.size) < size:
        image = v2.functional.resize(image, size, antialias=True)
    return v2.functional.to_dtype(v2.functional.to_image(v2.functional.center_crop(image, size)),
                                  torch.float32, scale=True)


class SpectrumDataset(torch.utils.data.Dataset):
    """(spectrum, domain label) of each file, computed on the fly so large sets need no memory."""

    def __init__(self, paths: list[Path], labels: list[int], size: int) -> None:
        if len(paths) != len(labels):
            raise ValueError("one label per path")
        self.paths, self.labels, self.size = list(paths), list(labels), size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path = self.paths[index]
        try:
            with Image.open(path) as image:
                pixels = central_crop(image.convert("RGB"), self.size)
        except OSError as err:
            raise WilssError(f"image '{path}' cannot be read ({err}); remove or replace the file.") from None
        return log_amplitude(pixels), self.labels[index]

"""Joint image + mask transforms (docs/method.md, "Tasks and data") with torchvision.transforms.v2: one call moves both consistently."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class LabelMap(tv_tensors.Mask):
    """A uint8 mask resized the way the original resizes its PIL masks: PIL's nearest neighbour, which samples
    at pixel centres. torchvision's nearest on tensors samples at pixel corners and picks other pixels (void and
    class borders move). Every other transform treats it as a plain `Mask`."""


def _pil_nearest(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    planes = mask.as_subclass(torch.Tensor).reshape(-1, *mask.shape[-2:]).numpy()
    resized = [np.asarray(Image.fromarray(plane).resize((width, height), Image.NEAREST)) for plane in planes]
    return torch.from_numpy(np.stack(resized)).reshape(*mask.shape[:-2], height, width)


# torchvision does not re-wrap the output of kernels registered from outside it. A kernel that returned a plain
# tensor turned the mask into one, and v2 transforms pass plain tensors through untouched when an image is
# present: every flip after the crop left the mask unflipped (half the flipped samples, a third of all, taught
# mirrored labels). Each kernel therefore wraps its result like its input, and `assert_label_map` checks it.
@F.register_kernel(F.resize, LabelMap)
def _resize_label_map(mask, size, interpolation=None, max_size=None, antialias=None):
    return tv_tensors.wrap(_pil_nearest(mask, *resized_size(*mask.shape[-2:], size, max_size)), like=mask)


@F.register_kernel(F.resized_crop, LabelMap)
def _resized_crop_label_map(mask, top, left, height, width, size, interpolation=None, antialias=None):
    cropped = F.crop_mask(mask.as_subclass(torch.Tensor), top, left, height, width)
    return tv_tensors.wrap(_pil_nearest(cropped, *size), like=mask)


def assert_label_map(mask: torch.Tensor, where: str) -> None:
    """Refuse a per-pixel target that left a joint transform as anything but a `LabelMap`: it was not moved
    with its image (a transform passes plain tensors through), so it no longer labels the image's pixels."""
    if not isinstance(mask, LabelMap):
        raise TypeError(f"{where}: the mask left the joint transform as {type(mask).__name__}, not LabelMap; "
                        "a kernel lost its type, so the mask no longer follows the image's crop and flip")


def resized_size(height: int, width: int, size, max_size: int | None = None) -> tuple[int, int]:
    """The output size of torchvision's `resize`, so that a mask keeps its image's size: (h, w) as given, or
    the short side scaled to `size` (the long side rounded down, then capped at `max_size`). torchvision keeps
    this rule private; tests/test_mask_resize.py pins it against `F.resize`."""
    size = [size] if isinstance(size, int) else list(size)
    if len(size) == 2:
        return size[0], size[1]
    short, long = sorted((height, width))
    new_short, new_long = size[0], int(size[0] * long / short)
    if max_size is not None and new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_short, new_long) if height <= width else (new_long, new_short)


def _to_normalized_tensor() -> list[v2.Transform]:
    return [
        v2.ToImage(),
        # Scale the image to [0, 1]; leave the mask's integer labels alone.
        v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ]


def train_transform(crop_size: int) -> v2.Compose:
    """Random-resized crop with area scale in [0.5, 2] (attempts that cannot fit are retried, then a central
    crop), horizontal flip, ImageNet normalisation; masks are resampled with nearest neighbour."""
    return v2.Compose([
        v2.RandomResizedCrop(crop_size, scale=(0.5, 2.0), ratio=(3 / 4, 4 / 3)),
        v2.RandomHorizontalFlip(),
        *_to_normalized_tensor(),
    ])


def eval_transform(crop_size: int, mode: str) -> v2.Compose:
    """`parity`: shorter side resized to `crop_size`, then the central crop_size² crop (MiB/WILSON protocol);
    `full`: the whole image at its own resolution."""
    if mode == "parity":
        resize = [v2.Resize(crop_size), v2.CenterCrop(crop_size)]
    elif mode == "full":
        resize = []
    else:
        raise ValueError(f"unknown eval mode {mode!r}")
    return v2.Compose([*resize, *_to_normalized_tensor()])

"""Masks are resampled exactly as the original resamples its PIL masks (PIL's NEAREST), in the train and the
evaluation transforms, at odd sizes and scale factors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from wilss.data.transforms import LabelMap, eval_transform, resized_size, train_transform


def random_labels(height: int, width: int, seed: int) -> np.ndarray:
    labels = np.random.default_rng(seed).integers(0, 21, (height, width), dtype=np.uint8)
    labels[::7] = 255   # void lines, as VOC's borders
    return labels


def pil_nearest(labels: np.ndarray, width: int, height: int, box=None) -> np.ndarray:
    return np.asarray(Image.fromarray(labels).resize((width, height), Image.NEAREST, box=box))


@pytest.mark.parametrize("source, target", [((37, 53), (16, 23)), ((37, 53), (91, 130)), ((500, 375), (512, 683)),
                                            ((13, 11), (29, 7)), ((333, 500), (512, 768))])
def test_label_map_resize_picks_the_pixels_pil_nearest_picks(source, target):
    labels = random_labels(*source, seed=sum(source))
    resized = F.resize(LabelMap(torch.from_numpy(labels)[None]), list(target))
    assert np.array_equal(resized[0].numpy(), pil_nearest(labels, target[1], target[0]))
    assert isinstance(resized, LabelMap)


def test_torchvision_nearest_alone_picks_other_pixels():
    """Why LabelMap exists: a plain Mask, resized by torchvision, differs from PIL at these sizes."""
    labels = random_labels(375, 500, seed=1)
    plain = F.resize(tv_tensors.Mask(torch.from_numpy(labels)[None]), [512, 683])
    assert not np.array_equal(plain[0].numpy(), pil_nearest(labels, 683, 512))


def test_train_crop_of_a_mask_is_the_pil_crop_then_nearest_resize():
    labels = random_labels(41, 67, seed=2)
    image = Image.fromarray(np.zeros((41, 67, 3), dtype=np.uint8))
    torch.manual_seed(5)
    params = train_transform(29).transforms[0].make_params([image])   # the random-resized crop's draw
    torch.manual_seed(5)
    _, mask = train_transform(29)(image, LabelMap(torch.from_numpy(labels)[None]))
    top, left, height, width = params["top"], params["left"], params["height"], params["width"]
    cropped = labels[top:top + height, left:left + width]
    expected = pil_nearest(cropped, 29, 29)
    assert np.array_equal(mask[0].numpy(), expected) or np.array_equal(mask[0].numpy(), expected[:, ::-1])


@pytest.mark.parametrize("height, width", [(375, 500), (333, 499), (101, 67)])
def test_eval_transform_resizes_the_short_side_as_pil_then_crops_the_centre(height, width):
    labels = random_labels(height, width, seed=height)
    image = Image.fromarray(np.zeros((height, width, 3), dtype=np.uint8))
    out_image, mask = eval_transform(64, "parity")(image, LabelMap(torch.from_numpy(labels)[None]))
    scale = 64 / min(height, width)
    new_h, new_w = (64, int(width * scale)) if height <= width else (int(height * scale), 64)
    full = pil_nearest(labels, new_w, new_h)
    top, left = int(round((new_h - 64) / 2.0)), int(round((new_w - 64) / 2.0))
    assert out_image.shape[-2:] == (64, 64)
    assert np.array_equal(mask[0].numpy(), full[top:top + 64, left:left + 64])


@pytest.mark.parametrize("height, width", [(375, 500), (500, 375), (333, 333), (101, 67), (7, 1000)])
@pytest.mark.parametrize("size, max_size", [([512], None), ([321], None), ([512], 600), ((40, 30), None)])
def test_the_mask_size_rule_is_torchvisions(height, width, size, max_size):
    """torchvision's rule for resize's output size is private: the kit's copy must give what F.resize gives."""
    expected = tuple(F.resize(torch.zeros(1, height, width), list(size), max_size=max_size).shape[-2:])
    assert resized_size(height, width, size, max_size) == expected

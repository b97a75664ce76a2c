"""Invariants of the data pipeline: a mask labels the pixels of its own image after every transform.

Each image encodes its own coordinates (red = column, green = row, as ramps over 0..250) and two masks encode the
same (one the column, one the row, with void rows). Through the real datasets' code path (files on disk, decode,
joint transform with the sample's seed), the mask must equal the image's coordinate everywhere but void, up to
the resampling difference between the image's bilinear filter and the mask's nearest neighbour. A mask that
missed a flip, a crop or a rotation is off by up to the whole ramp.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from PIL import Image
from torch import nn

from wilss.config import load_config
from wilss.data.dataset import ImageLabelDataset, SegmentationDataset
from wilss.data.replay import ReplayDataset
from wilss.data.transforms import IMAGENET_MEAN, IMAGENET_STD, eval_transform, train_transform
from wilss.methods.pseudo_labels import localizer as localizer_pseudo_labels
from wilss.methods.wilson import WilsonStep

SEEDS = range(100)
VOID = 255
RAMP = 250
# (height, width): odd sizes, a square, and extreme aspect ratios both ways
SIZES = [(37, 53), (64, 64), (17, 401), (401, 17), (375, 500)]
DATASETS = ["voc", "coco-voc", "synthetic"]


def ramp(length: int) -> np.ndarray:
    return np.round(np.arange(length) * RAMP / max(length - 1, 1)).astype(np.uint8)


def coordinate_image(height: int, width: int) -> np.ndarray:
    red = np.broadcast_to(ramp(width)[None, :], (height, width))
    green = np.broadcast_to(ramp(height)[:, None], (height, width))
    return np.stack([red, green, np.full((height, width), 128, np.uint8)], axis=-1)


def coordinate_masks(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(column mask, row mask), with every seventh row void as VOC's borders."""
    columns, rows = coordinate_image(height, width)[..., 0].copy(), coordinate_image(height, width)[..., 1].copy()
    columns[3::7], rows[3::7] = VOID, VOID
    return columns, rows


def write_sample(folder, height: int, width: int, exif_orientation: int | None = None):
    """The image (PNG, or a JPEG stored as is with an EXIF orientation tag) and its two masks (no tag)."""
    folder.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(coordinate_image(height, width))
    if exif_orientation is None:
        image_path = folder / "image.png"
        image.save(image_path)
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        image_path = folder / "image.jpg"
        image.save(image_path, quality=100, subsampling=0, exif=exif.tobytes())
    columns, rows = coordinate_masks(height, width)
    Image.fromarray(columns, mode="L").save(folder / "columns.png")
    Image.fromarray(rows, mode="L").save(folder / "rows.png")
    return image_path, folder / "columns.png", folder / "rows.png"


def pixel_values(image: torch.Tensor) -> torch.Tensor:
    """The normalised image tensor back in 0..255."""
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (image * std + mean) * 255


def tolerance(channel: torch.Tensor, source_step: float, axis: int) -> float:
    """Bilinear against nearest: half a source pixel when enlarging, half an output pixel when shrinking
    (the local slope), plus rounding."""
    slope = channel.diff(dim=axis).abs().median().item() if channel.shape[axis] > 1 else 0.0
    return 0.6 * max(source_step, slope) + 3.0


def assert_mask_follows_image(image: torch.Tensor, mask: torch.Tensor, channel: int, size: tuple[int, int],
                              what: str) -> None:
    values = pixel_values(image)[channel]
    axis = 1 if channel == 0 else 0   # red ramps along columns, green along rows
    labelled = mask != VOID
    assert mask.shape == values.shape, f"{what}: mask {tuple(mask.shape)} vs image {tuple(values.shape)}"
    assert labelled.any(), f"{what}: nothing but void"
    error = (values - mask.float()).abs()[labelled].max().item()
    limit = tolerance(values, RAMP / max(size[axis] - 1, 1), axis)
    assert error <= limit, f"{what}: the mask is off its image by {error:.1f} levels (allowed {limit:.1f})"


def transforms_of(dataset: str) -> dict[str, object]:
    cfg = load_config([f"dataset={dataset}"]).dataset
    return {"train": train_transform(cfg.crop_size),
            "eval-parity": eval_transform(cfg.crop_size_val, "parity"),
            "eval-full": eval_transform(cfg.crop_size_val, "full")}


def segmentation_pair(image_path, mask_path, transform) -> SegmentationDataset:
    """The dataset class every dataset of the kit trains and evaluates on, with an identity label table (the
    table relabels ids before any geometry; it cannot move pixels)."""
    return SegmentationDataset([image_path], [mask_path], np.arange(256, dtype=np.uint8), np.zeros((1, 20), np.float32),
                               transform, name="invariants")


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_every_transform_of_every_dataset_keeps_the_mask_on_its_image(tmp_path, dataset, size):
    image_path, columns, rows = write_sample(tmp_path, *size)
    for name, transform in transforms_of(dataset).items():
        datasets = [segmentation_pair(image_path, columns, transform), segmentation_pair(image_path, rows, transform)]
        for seed in SEEDS if name == "train" else SEEDS[:3]:
            for channel, data in enumerate(datasets):
                sample = data[(0, seed)]
                assert_mask_follows_image(sample["image"], sample["mask"], channel, size,
                                          f"{dataset} {name} {size} seed {seed}")


@pytest.mark.parametrize("orientation", [6, 3, 8])
@pytest.mark.parametrize("size", [(37, 53), (48, 48)], ids=lambda size: f"{size[0]}x{size[1]}")
def test_an_exif_tagged_image_and_its_untagged_mask_are_read_in_the_same_orientation(tmp_path, size, orientation):
    """A phone photo annotated on its stored pixels (as VOC's masks are): square or not, the tag must not
    turn the image away from its mask, in training and evaluation."""
    image_path, columns, rows = write_sample(tmp_path, *size, exif_orientation=orientation)
    for name, transform in transforms_of("synthetic").items():   # reading is what matters; the small crop is fast
        for seed in SEEDS if name == "train" else SEEDS[:3]:
            for channel, mask_path in enumerate((columns, rows)):
                sample = segmentation_pair(image_path, mask_path, transform)[(0, seed)]
                assert_mask_follows_image(sample["image"], sample["mask"], channel, size,
                                          f"EXIF {orientation} {name} {size} seed {seed}")


@pytest.mark.parametrize("size", [(37, 53), (17, 401), (375, 500)], ids=lambda size: f"{size[0]}x{size[1]}")
def test_replay_labels_name_the_classes_of_the_image_crop(tmp_path, size):
    """A replay image's label vector comes from its pseudo-label after the joint crop: it must name exactly the
    classes whose colours the image crop shows (each class a band of columns, coloured by its id)."""
    height, width = size
    band = np.minimum(np.arange(width) * 20 // width, 19) + 1        # classes 1..20 from left to right
    labels = np.broadcast_to(band[None, :], (height, width)).astype(np.uint8)
    rgb = np.stack([labels * 12, np.full_like(labels, 60), np.full_like(labels, 200)], axis=-1)
    Image.fromarray(rgb).save(tmp_path / "replay.png")
    Image.fromarray(labels, mode="L").save(tmp_path / "replay_label.png")
    replay = ReplayDataset([tmp_path / "replay.png"], [tmp_path / "replay_label.png"], 20,
                           train_transform(load_config(["dataset=voc"]).dataset.crop_size))
    for seed in SEEDS:
        sample = replay[(0, seed)]
        red = pixel_values(sample["image"])[0]
        shown = {int(k) for k in torch.unique(torch.round(red / 12)) if 1 <= k <= 20}
        named = {int(k) + 1 for k in torch.nonzero(sample["labels"]).flatten()}
        # bilinear blending at a band's edge can show a neighbour's colour for a pixel: only full bands count
        assert named <= shown and len(shown - named) <= 2, f"replay {size} seed {seed}: {named} vs {shown}"
        assert named, f"replay {size} seed {seed}: no class named"


def test_a_weak_step_image_gets_the_crop_and_flip_of_its_mask(tmp_path):
    """Weak steps read images without masks; the pseudo-label panel reads the same image with its mask. The
    augmentation's draws must not depend on the mask being there: same crop and flip, pixel for pixel."""
    image_path, columns, _ = write_sample(tmp_path, 45, 71)
    transform = train_transform(load_config(["dataset=voc"]).dataset.crop_size)
    alone = ImageLabelDataset([image_path], np.zeros((1, 20), np.float32), transform, name="weak")
    paired = segmentation_pair(image_path, columns, transform)
    for seed in SEEDS:
        assert torch.equal(alone[(0, seed)]["image"], paired[(0, seed)]["image"]), f"seed {seed}"


class Recorder(nn.Module):
    """A small segmentation network (body at 1/4, head) that records the images it is given."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 8, 4, stride=4)
        self.head = nn.Conv2d(8, classes, 1)
        self.seen: list[torch.Tensor] = []

    def forward(self, images, interpolate=True):
        self.seen.append(images.detach().clone())
        body = self.body(images)
        return self.head(body), {"body": body}


def test_the_new_model_the_old_model_the_localizer_and_pamr_see_the_same_crop_and_flip(tmp_path, monkeypatch):
    """One WILSON iteration on a batch of flipped and unflipped crops: the new and the old model get the same
    images, the localizer the new model's features of them, and PAMR the same images de-normalised, at the
    localizer's resolution, with the same orientation (its red channel ramps the way the batch's does)."""
    image_path, _, _ = write_sample(tmp_path, 45, 71)
    transform = train_transform(64)
    data = ImageLabelDataset([image_path], np.ones((1, 20), np.float32), transform, name="weak")
    batch = {"image": torch.stack([data[(0, seed)]["image"] for seed in range(8)]),
             "labels": torch.ones(8, 20)}
    pamr_images = []

    def recording_pamr(image, mask, iterations, dilations):
        pamr_images.append(image.clone())
        return mask

    monkeypatch.setattr(localizer_pseudo_labels, "pamr", recording_pamr)
    features = []
    localizer = nn.Conv2d(8, 21, 1)
    localizer.register_forward_hook(lambda module, inputs, output: features.append(inputs[0].detach().clone()))
    model, old_model = Recorder(21), Recorder(21)
    cfg = OmegaConf.create({"pseudo_labels": "localizer", "affinity": True, "pamr_iterations": 1,
                            "pamr_dilations": [1], "denorm_mean_typo": False, "alpha": 0.5, "loss_de": 1.0,
                            "pseudo_ep": 0})
    step = WilsonStep(model, model, localizer, localizer, old_model, cfg, num_old=16)
    losses = step.losses(batch, epoch=0)
    assert set(losses) == {"cls", "loc", "enc", "seg", "sss"}

    images = batch["image"]
    assert len(model.seen) == 1 and torch.equal(model.seen[0], images)
    assert len(old_model.seen) == 1 and torch.equal(old_model.seen[0], images)
    expected_features = model.body(images).detach()
    assert all(torch.allclose(seen, expected_features) for seen in features)
    (pamr_image,) = pamr_images
    assert pamr_image.shape[-2:] == expected_features.shape[-2:]
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expected = F.interpolate(images * std + mean, size=pamr_image.shape[-2:], mode="bilinear", align_corners=True)
    assert torch.allclose(pamr_image, expected, atol=1e-5)
    columns = pamr_image[:, 0].mean(dim=1)   # red per column: rises left to right unless the crop was flipped
    flipped = [bool(row[-1] < row[0]) for row in columns]
    assert 0 < sum(flipped) < len(flipped), "the batch should hold flipped and unflipped crops"

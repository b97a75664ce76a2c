"""Small archives in the exact formats of the official downloads, for the prepare tests.

VOCtrainval_11-May-2012.tar: VOCdevkit/VOC2012/{JPEGImages/*.jpg, SegmentationClass/*.png (palette PNGs with
255 void borders), SegmentationObject/, Annotations/*.xml, ImageSets/Segmentation/{train,val,trainval}.txt}.
benchmark.tgz: benchmark_RELEASE/dataset/{img/*.jpg, cls/*.mat (MATLAB struct GTcls: Segmentation,
Boundaries, CategoriesPresent), inst/*.mat, train.txt, val.txt}. COCO: train2017.zip / val2017.zip
(train2017/<12-digit id>.jpg), stuffthingmaps_trainval2017.zip (train2017/<id>.png, 8-bit grayscale maps:
things 0..90, stuff 91..181, 255 unlabelled).
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse
from PIL import Image

from wilss.data.palette import voc_colormap

SIZE = (20, 14)   # width, height: odd sizes on purpose


def class_map(classes: list[int], void_border: bool = False) -> np.ndarray:
    """One horizontal band per class on background; a void (255) frame when asked (VOC's annotations)."""
    width, height = SIZE
    labels = np.zeros((height, width), dtype=np.uint8)
    band = width // (len(classes) + 1)
    for k, class_id in enumerate(classes):
        labels[:, (k + 1) * band:(k + 2) * band] = class_id
    if void_border:
        labels[0, :] = labels[-1, :] = labels[:, 0] = labels[:, -1] = 255
    return labels


def jpeg_bytes(seed: int) -> bytes:
    rgb = np.random.default_rng(seed).integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def png_bytes(labels: np.ndarray, palette: bool = False) -> bytes:
    image = Image.frombytes("P" if palette else "L", labels.shape[::-1], labels.tobytes())
    if palette:
        image.putpalette(voc_colormap().flatten().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def sbd_mat_bytes(labels: np.ndarray) -> bytes:
    """A GTcls struct as SBD's cls/*.mat files hold it (Boundaries: 20x1 cell of sparse edge maps)."""
    boundaries = np.empty((20, 1), dtype=object)
    for k in range(20):
        boundaries[k, 0] = scipy.sparse.csc_matrix(labels == k + 1, dtype=np.float64)
    present = np.array([c for c in np.unique(labels) if 0 < c < 255], dtype=np.uint8).reshape(-1, 1)
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"GTcls": {"Segmentation": labels, "Boundaries": boundaries,
                                        "CategoriesPresent": present}})
    return buffer.getvalue()


def _add(archive, name: str, data: bytes) -> None:
    if isinstance(archive, zipfile.ZipFile):
        archive.writestr(name, data)
        return
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def write_voc_tar(path: Path, voc_train: dict[str, list[int]], voc_val: dict[str, list[int]],
                  extra_images: list[str], year: int = 2012) -> Path:
    base = f"VOCdevkit/VOC{year}"
    with tarfile.open(path, "w") as archive:
        for seed, image_id in enumerate([*voc_train, *voc_val, *extra_images]):
            _add(archive, f"{base}/JPEGImages/{image_id}.jpg", jpeg_bytes(seed))
            _add(archive, f"{base}/Annotations/{image_id}.xml", b"<annotation></annotation>")
        for image_id, classes in {**voc_train, **voc_val}.items():
            labels = class_map(classes, void_border=True)
            _add(archive, f"{base}/SegmentationClass/{image_id}.png", png_bytes(labels, palette=True))
            _add(archive, f"{base}/SegmentationObject/{image_id}.png", png_bytes(labels, palette=True))
        lists = {"train": list(voc_train), "val": list(voc_val), "trainval": [*voc_train, *voc_val]}
        for name, ids in lists.items():
            _add(archive, f"{base}/ImageSets/Segmentation/{name}.txt", "".join(f"{i}\n" for i in ids).encode())
    return path


def write_sbd_tgz(path: Path, sbd_train: dict[str, list[int]], sbd_val: dict[str, list[int]],
                  without_cls: tuple[str, ...] = ()) -> Path:
    """benchmark.tgz; the ids in `without_cls` are listed but have no cls/*.mat (a damaged copy)."""
    base = "benchmark_RELEASE/dataset"
    with tarfile.open(path, "w:gz") as archive:
        for seed, (image_id, classes) in enumerate({**sbd_train, **sbd_val}.items()):
            _add(archive, f"{base}/img/{image_id}.jpg", jpeg_bytes(100 + seed))
            if image_id not in without_cls:
                _add(archive, f"{base}/cls/{image_id}.mat", sbd_mat_bytes(class_map(classes)))
            _add(archive, f"{base}/inst/{image_id}.mat", sbd_mat_bytes(class_map(classes)))
        for name, ids in (("train", sbd_train), ("val", sbd_val)):
            _add(archive, f"{base}/{name}.txt", "".join(f"{i}\n" for i in ids).encode())
    return path


def write_coco_zips(folder: Path, maps: dict[str, dict[str, np.ndarray]]) -> Path:
    """train2017.zip, val2017.zip and stuffthingmaps_trainval2017.zip for `maps[split][image id]`."""
    with zipfile.ZipFile(folder / "stuffthingmaps_trainval2017.zip", "w") as stuff:
        for split, items in maps.items():
            with zipfile.ZipFile(folder / f"{split}2017.zip", "w") as images:
                images.writestr(f"{split}2017/", b"")
                for seed, (image_id, labels) in enumerate(items.items()):
                    images.writestr(f"{split}2017/{image_id}.jpg", jpeg_bytes(200 + seed))
                    stuff.writestr(f"{split}2017/{image_id}.png", png_bytes(labels))
    return folder


def write_segmentation_class_aug(folder: Path, masks: dict[str, np.ndarray], train_aug: list[str]) -> Path:
    """DeepLab's SegmentationClassAug.zip (8-bit grayscale label PNGs, each followed by the macOS metadata entry
    the distributed zip carries) and DeepLab's list train_aug.txt ('/JPEGImages/<id>.jpg
    /SegmentationClassAug/<id>.png' per line) next to it."""
    with zipfile.ZipFile(folder / "SegmentationClassAug.zip", "w") as archive:
        archive.writestr("SegmentationClassAug/", b"")
        for image_id, labels in sorted(masks.items()):
            archive.writestr(f"__MACOSX/SegmentationClassAug/._{image_id}.png", b"\0\5\26\7\0\2\0\0Mac OS X")
            archive.writestr(f"SegmentationClassAug/{image_id}.png", png_bytes(labels))
    lines = "".join(f"/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png\n" for i in sorted(train_aug))
    (folder / "train_aug.txt").write_text(lines)
    return folder

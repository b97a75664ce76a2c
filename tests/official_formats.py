"""Small archives in the exact formats of the official downloads, for the prepare tests.

VOCtrainval_11-May-2012.tar: VOCdevkit/VOC2012/{JPEGImages/*.jpg, SegmentationClass/*.png (palette PNGs with
255 void bands around each object and the frame), SegmentationObject/, Annotations/*.xml,
ImageSets/Segmentation/{train,val,trainval}.txt (sorted)}. benchmark.tgz: benchmark_RELEASE/dataset/{img/*.jpg
(the same files as VOC's), cls/*.mat (compressed MATLAB v5, struct GTcls: Segmentation, Boundaries as a 20x1
cell of logical sparse edge maps, CategoriesPresent), inst/*.mat (struct GTinst: Segmentation, Boundaries,
Categories), train.txt, val.txt (sorted)}. COCO: train2017.zip / val2017.zip (train2017/<12-digit id>.jpg, some
grayscale or CMYK as in COCO), stuffthingmaps_trainval2017.zip (train2017/<id>.png, 8-bit grayscale maps: things
0..90, stuff 91..181, 255 unlabelled). Every archive has an entry per folder, as tar and zip write them; image
sizes vary per id.
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

VOID = 255


def size_of(image_id: str) -> tuple[int, int]:
    """(width, height) of an image, varied per id and odd on purpose."""
    n = int("".join(filter(str.isdigit, image_id)) or 0)
    return 20 + n % 7, 14 + n % 5


def class_map(classes: list[int], void: bool = False, image_id: str = "") -> np.ndarray:
    """One vertical band per class on background; with `void` (VOC's own annotations) a void band around each
    object and the frame."""
    width, height = size_of(image_id)
    labels = np.zeros((height, width), dtype=np.uint8)
    band = width // (len(classes) + 1)
    for k, class_id in enumerate(classes):
        labels[:, (k + 1) * band:(k + 2) * band] = class_id
        if void:
            labels[:, (k + 1) * band] = labels[:, (k + 2) * band - 1] = VOID
    if void:
        labels[0, :] = labels[-1, :] = labels[:, 0] = labels[:, -1] = VOID
    return labels


def jpeg_bytes(image_id: str, size: tuple[int, int] | None = None, mode: str = "RGB") -> bytes:
    """The same bytes for the same id (SBD's img/ holds VOC's files), of `mode` (COCO has L and CMYK JPEGs)."""
    width, height = size or size_of(image_id)
    seed = int("".join(filter(str.isdigit, image_id)) or 0)
    rgb = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert(mode).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def png_bytes(labels: np.ndarray, palette: bool = False) -> bytes:
    image = Image.frombytes("P" if palette else "L", labels.shape[::-1], labels.tobytes())
    if palette:
        image.putpalette(voc_colormap().flatten().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _edges(mask: np.ndarray) -> scipy.sparse.csc_matrix:
    """A logical sparse edge map, as SBD stores boundaries."""
    edge = mask & ~np.pad(mask, 1, mode="edge")[1:-1, 2:] | mask & ~np.pad(mask, 1, mode="edge")[2:, 1:-1]
    return scipy.sparse.csc_matrix(edge, dtype=bool)


def _mat_bytes(struct: str, fields: dict) -> bytes:
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {struct: fields}, do_compression=True)
    return buffer.getvalue()


def sbd_mat_bytes(labels: np.ndarray) -> bytes:
    """A GTcls struct as SBD's cls/*.mat files hold it (Boundaries: 20x1 cell of logical sparse edge maps)."""
    boundaries = np.empty((20, 1), dtype=object)
    for k in range(20):
        boundaries[k, 0] = _edges(labels == k + 1)
    present = np.array([c for c in np.unique(labels) if 0 < c < VOID], dtype=np.uint8).reshape(-1, 1)
    return _mat_bytes("GTcls", {"Segmentation": labels, "Boundaries": boundaries, "CategoriesPresent": present})


def sbd_inst_bytes(labels: np.ndarray) -> bytes:
    """A GTinst struct as SBD's inst/*.mat files hold it: one instance per class present."""
    classes = [c for c in np.unique(labels) if 0 < c < VOID]
    instances = np.zeros_like(labels)
    boundaries = np.empty((len(classes), 1), dtype=object)
    for k, class_id in enumerate(classes):
        instances[labels == class_id] = k + 1
        boundaries[k, 0] = _edges(labels == class_id)
    return _mat_bytes("GTinst", {"Segmentation": instances, "Boundaries": boundaries,
                                 "Categories": np.array(classes, dtype=np.uint8).reshape(-1, 1)})


class _Writer:
    """Files into a tar or zip archive, each folder as an entry of its own before its first file."""

    def __init__(self, archive):
        self.archive, self.folders = archive, set()

    def add(self, name: str, data: bytes) -> None:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder not in self.folders:
                self.folders.add(folder)
                self._entry(folder, None)
        self._entry(name, data)

    def _entry(self, name: str, data: bytes | None) -> None:
        if isinstance(self.archive, zipfile.ZipFile):
            self.archive.writestr(name + ("/" if data is None else ""), data or b"")
            return
        info = tarfile.TarInfo(name)
        if data is None:
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            self.archive.addfile(info)
            return
        info.size = len(data)
        self.archive.addfile(info, io.BytesIO(data))


def _list_bytes(ids) -> bytes:
    return "".join(f"{i}\n" for i in sorted(ids)).encode()


def write_voc_tar(path: Path, voc_train: dict[str, list[int]], voc_val: dict[str, list[int]],
                  extra_images: list[str], year: int = 2012) -> Path:
    base = f"VOCdevkit/VOC{year}"
    with tarfile.open(path, "w") as archive:
        writer = _Writer(archive)
        for image_id in sorted([*voc_train, *voc_val, *extra_images]):
            writer.add(f"{base}/JPEGImages/{image_id}.jpg", jpeg_bytes(image_id))
            writer.add(f"{base}/Annotations/{image_id}.xml", b"<annotation></annotation>")
        for image_id, classes in sorted({**voc_train, **voc_val}.items()):
            labels = class_map(classes, void=True, image_id=image_id)
            writer.add(f"{base}/SegmentationClass/{image_id}.png", png_bytes(labels, palette=True))
            writer.add(f"{base}/SegmentationObject/{image_id}.png", png_bytes(labels, palette=True))
        for name, ids in (("train", voc_train), ("val", voc_val), ("trainval", [*voc_train, *voc_val])):
            writer.add(f"{base}/ImageSets/Segmentation/{name}.txt", _list_bytes(ids))
    return path


def write_sbd_tgz(path: Path, sbd_train: dict[str, list[int]], sbd_val: dict[str, list[int]],
                  without_cls: tuple[str, ...] = ()) -> Path:
    """benchmark.tgz; the ids in `without_cls` are listed but have no cls/*.mat (a damaged copy)."""
    base = "benchmark_RELEASE/dataset"
    with tarfile.open(path, "w:gz") as archive:
        writer = _Writer(archive)
        for image_id, classes in sorted({**sbd_train, **sbd_val}.items()):
            labels = class_map(classes, image_id=image_id)
            writer.add(f"{base}/img/{image_id}.jpg", jpeg_bytes(image_id))
            if image_id not in without_cls:
                writer.add(f"{base}/cls/{image_id}.mat", sbd_mat_bytes(labels))
            writer.add(f"{base}/inst/{image_id}.mat", sbd_inst_bytes(labels))
        for name, ids in (("train", sbd_train), ("val", sbd_val)):
            writer.add(f"{base}/{name}.txt", _list_bytes(ids))
    return path


def write_coco_zips(folder: Path, maps: dict[str, dict[str, np.ndarray]], modes: dict[str, str] | None = None) -> Path:
    """train2017.zip, val2017.zip and stuffthingmaps_trainval2017.zip for `maps[split][image id]`; `modes` gives
    the JPEG mode of some images (default RGB)."""
    with zipfile.ZipFile(folder / "stuffthingmaps_trainval2017.zip", "w") as stuff:
        maps_writer = _Writer(stuff)
        for split, items in maps.items():
            with zipfile.ZipFile(folder / f"{split}2017.zip", "w") as images:
                writer = _Writer(images)
                for image_id, labels in sorted(items.items()):
                    jpeg = jpeg_bytes(image_id, labels.shape[::-1], (modes or {}).get(image_id, "RGB"))
                    writer.add(f"{split}2017/{image_id}.jpg", jpeg)
                    maps_writer.add(f"{split}2017/{image_id}.png", png_bytes(labels))
    return folder


def write_segmentation_class_aug(folder: Path, masks: dict[str, np.ndarray], train_aug: list[str]) -> Path:
    """DeepLab's SegmentationClassAug.zip (8-bit grayscale label PNGs, each followed by the macOS metadata entry
    the distributed zip carries) and DeepLab's list train_aug.txt ('/JPEGImages/<id>.jpg
    /SegmentationClassAug/<id>.png' per line) next to it."""
    with zipfile.ZipFile(folder / "SegmentationClassAug.zip", "w") as archive:
        writer = _Writer(archive)
        for image_id, labels in sorted(masks.items()):
            writer.add(f"__MACOSX/SegmentationClassAug/._{image_id}.png", b"\0\5\26\7\0\2\0\0Mac OS X")
            writer.add(f"SegmentationClassAug/{image_id}.png", png_bytes(labels))
    lines = "".join(f"/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png\n" for i in sorted(train_aug))
    (folder / "train_aug.txt").write_text(lines)
    return folder

"""Pascal VOC 2012 + SBD in the kit's VOC layout (the one MiB and WILSON use).

    ROOT/JPEGImages/<id>.jpg            every image of train_aug and val
    ROOT/SegmentationClassAug/<id>.png  0 background, 1..20 classes, 255 void (8-bit, one id per pixel)
    ROOT/splits/train_aug.txt           '/JPEGImages/<id>.jpg /SegmentationClassAug/<id>.png' per line
    ROOT/splits/val.txt                 the same for VOC 2012's segmentation val set

train_aug = (VOC train ∪ SBD train ∪ SBD val) − VOC val: SBD annotates some VOC val images, and those stay
out of training (10,582 images on the official archives; val has 1,449). A mask is VOC's own annotation where
VOC has one (palette PNG: its indices are the ids, with void borders), otherwise SBD's (`GTcls.Segmentation`
of `dataset/cls/<id>.mat`, read with scipy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wilss.data.prepare.archives import SBD, VOC2012, as_folder
from wilss.data.prepare.common import convert_all, refuse_problems, write_list
from wilss.data.prepare.files import link_or_copy, publish, work_folder
from wilss.data.validate import open_mask, read_list_lines
from wilss.errors import WilssError
from wilss.core import progress

VOC_WANTED = ("JPEGImages/", "SegmentationClass/", "ImageSets/Segmentation/")
SBD_WANTED = ("dataset/cls/", "dataset/train.txt", "dataset/val.txt")
MASKS = "SegmentationClassAug"


def _loadmat():
    try:
        from scipy.io import loadmat
    except ImportError:
        raise WilssError("reading SBD's .mat masks needs scipy: pip install 'wilss[data]' (or pip install scipy), "
                         "then rerun the same command.") from None
    return loadmat


def sbd_segmentation(path: Path) -> np.ndarray:
    """The class map of an SBD annotation file (MATLAB struct GTcls with field Segmentation)."""
    record = _loadmat()(path, squeeze_me=True, struct_as_record=False)
    if "GTcls" not in record:
        raise ValueError("no GTcls struct: not an SBD class annotation")
    return np.asarray(record["GTcls"].Segmentation)


def _ids(path: Path) -> list[str]:
    if not path.is_file():
        raise WilssError(f"'{path}' is missing: the archive or folder is not the official one (or is incomplete). "
                         "Download it again.")
    return [line for _, line in read_list_lines(path, "--archives")]


def voc_splits(voc: Path, sbd: Path) -> tuple[list[str], list[str], set[str]]:
    """train_aug ids (sorted), val ids (VOC's order) and the ids that have a VOC annotation."""
    segmentation = voc / "ImageSets" / "Segmentation"
    voc_train, val = _ids(segmentation / "train.txt"), _ids(segmentation / "val.txt")
    sbd_ids = set(_ids(sbd / "dataset" / "train.txt")) | set(_ids(sbd / "dataset" / "val.txt"))
    train_aug = sorted((set(voc_train) | sbd_ids) - set(val))
    return train_aug, val, set(voc_train) | set(val)


def write_voc_root(work: Path, voc: Path, sbd: Path, workers: int | None) -> dict[str, int]:
    """Masks, images and split lists of the VOC layout in `work`; the number of samples per list."""
    train_aug, val, voc_annotated = voc_splits(voc, sbd)
    masks = [(voc / "SegmentationClass" / f"{i}.png" if i in voc_annotated else sbd / "dataset" / "cls" / f"{i}.mat",
              work / MASKS / f"{i}.png") for i in dict.fromkeys(train_aug + val)]

    def convert(source: Path) -> np.ndarray:
        return open_mask(source) if source.suffix == ".png" else sbd_segmentation(source)

    problems = convert_all(masks, convert, "converting masks", workers)
    for image_id in progress(dict.fromkeys(train_aug + val), len(masks), "placing images"):
        source = voc / "JPEGImages" / f"{image_id}.jpg"
        if source.is_file():
            link_or_copy(source, work / "JPEGImages" / f"{image_id}.jpg")
        else:
            problems.append(f"'{source}' is missing")
    refuse_problems(problems, "files of the VOC/SBD sources are missing or damaged",
                    "Re-extract or download the archives again (see docs/data.md).")
    for name, ids in (("train_aug", train_aug), ("val", val)):
        write_list(work / "splits" / f"{name}.txt", [f"/JPEGImages/{i}.jpg /{MASKS}/{i}.png" for i in ids])
    return {"train_aug": len(train_aug), "val": len(val)}


def prepare_voc(archives: Path, out: Path, check_md5: bool = True, fetch: bool = False,
                workers: int | None = None) -> dict[str, int]:
    _loadmat()   # before any work: a missing extra must not cost an extraction first
    work = work_folder(out)
    voc = as_folder(VOC2012, archives, work, VOC_WANTED, check_md5, fetch)
    sbd = as_folder(SBD, archives, work, SBD_WANTED, check_md5, fetch)
    counts = write_voc_root(work, voc, sbd, workers)
    publish(work, out)
    return counts

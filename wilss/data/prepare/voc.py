"""Pascal VOC 2012 + SBD in the kit's VOC layout (the one MiB and WILSON use).

    ROOT/JPEGImages/<id>.jpg            every image of train_aug and val
    ROOT/SegmentationClassAug/<id>.png  0 background, 1..20 classes, 255 void (8-bit, one id per pixel)
    ROOT/splits/train_aug.txt           '/JPEGImages/<id>.jpg /SegmentationClassAug/<id>.png' per line
    ROOT/splits/val.txt                 the same for VOC 2012's segmentation val set

train_aug = (VOC train ∪ SBD train ∪ SBD val) − VOC val: SBD annotates some VOC val images, and those stay
out of training (10,582 images on the official archives; val has 1,449). A mask is VOC's own annotation where
VOC has one (palette PNG: its indices are the ids, with void borders), otherwise SBD's (`GTcls.Segmentation`
of `dataset/cls/<id>.mat`, read with scipy).

Instead of SBD, DeepLab's SegmentationClassAug.zip (SBD's masks as PNGs) with DeepLab's `train_aug.txt` next to
it: train_aug is then that list minus VOC val, and a mask VOC lacks comes from `SegmentationClassAug/<id>.png`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from wilss.data.datasets.voc import VOC_LINES
from wilss.data.prepare.archives import (SBD, SEGMENTATION_CLASS_AUG, VOC2012, Fetch, Unpacked, locate, name_in,
                                         present, unpack)
from wilss.data.prepare.common import Count, convert_all, refuse_counts, refuse_problems, write_list
from wilss.data.prepare.files import link_or_copy, require_new, work_folder
from wilss.data.validate import open_mask, read_list_lines
from wilss.errors import WilssError
from wilss.core import progress

VOC_WANTED = ("JPEGImages/", "SegmentationClass/", "ImageSets/Segmentation/")
SBD_WANTED = ("dataset/cls/", "dataset/train.txt", "dataset/val.txt")
DEEPLAB_LIST = "train_aug.txt"   # DeepLab's list of train_aug, next to SegmentationClassAug.zip
MASKS = "SegmentationClassAug"
# The id lists train_aug is made of, with their lengths in the official archives.
VOC_LISTS = {"train": "ImageSets/Segmentation/train.txt", "val": "ImageSets/Segmentation/val.txt"}
SBD_LISTS = {"train": "dataset/train.txt", "val": "dataset/val.txt"}
OFFICIAL_LISTS = {(VOC2012, "train"): 1464, (VOC2012, "val"): 1449, (SBD, "train"): 8498, (SBD, "val"): 2857}


def _loadmat():
    try:
        from scipy.io import loadmat
    except ImportError:
        raise WilssError("reading SBD's .mat masks needs scipy: pip install 'wilss[data]' (or pip install scipy), "
                         "then rerun the same command.") from None
    return loadmat


def sbd_segmentation(path: Path) -> np.ndarray:
    """The class map of an SBD annotation file (MATLAB struct GTcls with field Segmentation)."""
    with open(path, "rb") as handle:   # a missing file is FileNotFoundError, not scipy's 'Reader needs file name'
        try:
            record = _loadmat()(handle, squeeze_me=True, struct_as_record=False)
        except Exception as err:  # noqa: BLE001 - scipy raises many types for a damaged file
            raise ValueError(f"not a readable MATLAB file: {err}") from None
    if "GTcls" not in record:
        raise ValueError("no GTcls struct: not an SBD class annotation")
    return np.asarray(record["GTcls"].Segmentation)


def _ids(path: Path) -> list[str]:
    """The image ids of a list: VOC's id lines, or DeepLab's '/JPEGImages/<id>.jpg /SegmentationClassAug/...'."""
    return [Path(line.split()[0]).stem for _, line in read_list_lines(path, "--archives")]


@dataclass(frozen=True)
class Augmentation:
    """Where train_aug's images beyond VOC's train list come from (SBD, or DeepLab's masks and list)."""
    source: Unpacked
    ids: list[str]          # listed for training (VOC val ids are dropped from train_aug)
    counts: list[Count]     # its lists against the official lengths
    mask: Callable[[str], Path]


def _counted(ids: list[str], what: str, official: int) -> Count:
    return Count(f"ids in {what}", len(ids), official)


def sbd_augmentation(sbd: Unpacked) -> Augmentation:
    lists = {split: _ids(sbd.folder / relative) for split, relative in SBD_LISTS.items()}
    counts = [_counted(ids, sbd.name(sbd.folder / SBD_LISTS[split]), OFFICIAL_LISTS[SBD, split])
              for split, ids in lists.items()]
    return Augmentation(sbd, lists["train"] + lists["val"], counts,
                        lambda i: sbd.folder / "dataset" / "cls" / f"{i}.mat")


def deeplab_augmentation(masks: Unpacked, listed: Path) -> Augmentation:
    ids = _ids(listed)
    return Augmentation(masks, ids, [_counted(ids, f"'{listed}'", VOC_LINES["splits/train_aug.txt"])],
                        lambda i: masks.folder / f"{i}.png")


def voc_splits(voc: Unpacked, extra: Augmentation, subset: bool) -> tuple[list[str], list[str], set[str]]:
    """train_aug ids (sorted), val ids (VOC's order) and the ids that have a VOC annotation; refused when a list
    is empty, or (without `subset`) not of the official length."""
    lists = {split: _ids(voc.folder / relative) for split, relative in VOC_LISTS.items()}
    val = lists["val"]
    train_aug = sorted((set(lists["train"]) | set(extra.ids)) - set(val))
    refuse_counts([*(_counted(ids, voc.name(voc.folder / VOC_LISTS[split]), OFFICIAL_LISTS[VOC2012, split])
                     for split, ids in lists.items()), *extra.counts,
                   Count("samples of the train_aug split", len(train_aug), VOC_LINES["splits/train_aug.txt"], True),
                   Count("samples of the val split", len(val), VOC_LINES["splits/val.txt"], True)], subset)
    return train_aug, val, set(lists["train"]) | set(val)


def write_voc_root(work: Path, voc: Unpacked, extra: Augmentation, subset: bool,
                   workers: int | None) -> dict[str, int]:
    """Masks, images and split lists of the VOC layout in `work`; the number of samples per list."""
    train_aug, val, voc_annotated = voc_splits(voc, extra, subset)
    ids = list(dict.fromkeys(train_aug + val))
    masks = [(voc.folder / "SegmentationClass" / f"{i}.png" if i in voc_annotated else extra.mask(i),
              work / MASKS / f"{i}.png") for i in ids]

    def convert(source: Path) -> np.ndarray:
        return open_mask(source) if source.suffix == ".png" else sbd_segmentation(source)

    problems = convert_all(masks, convert, "converting masks", partial(name_in, [voc, extra.source]), workers)
    for image_id in progress(ids, len(ids), "placing images"):
        source = voc.folder / "JPEGImages" / f"{image_id}.jpg"
        if source.is_file():
            link_or_copy(source, work / "JPEGImages" / f"{image_id}.jpg")
        else:
            problems.append(f"{voc.name(source)} is missing")
    refuse_problems(problems, "files of the VOC/SBD sources are missing or damaged",
                    "Re-extract or download the archives again (see docs/data.md).")
    for name, split in (("train_aug", train_aug), ("val", val)):
        write_list(work / "splits" / f"{name}.txt", [f"/JPEGImages/{i}.jpg /{MASKS}/{i}.png" for i in split])
    return {"train_aug": len(train_aug), "val": len(val)}


def prepare_voc(given: dict, out: Path, subset: bool, workers: int | None) -> dict[str, int]:
    """The VOC layout of `out` in its work folder (published with the command's other datasets)."""
    work = work_folder(out)
    voc = unpack(VOC2012, given[VOC2012], work, VOC_WANTED)
    if SBD in given:
        extra = sbd_augmentation(unpack(SBD, given[SBD], work, SBD_WANTED))
    else:
        masks = unpack(SEGMENTATION_CLASS_AUG, given[SEGMENTATION_CLASS_AUG], work, ("",))
        extra = deeplab_augmentation(masks, given[DEEPLAB_LIST])
    return write_voc_root(work, voc, extra, subset, workers)


def _uses_sbd(archives: Path) -> bool:
    """SBD, unless the folder has DeepLab's masks and no SBD."""
    return present(SBD, archives) or not present(SEGMENTATION_CLASS_AUG, archives)


def _deeplab_inputs(fetch: Fetch) -> dict:
    listed = fetch.archives / DEEPLAB_LIST
    if not listed.is_file():
        raise WilssError(f"'{listed}' is missing: DeepLab's SegmentationClassAug.zip comes with its list of "
                         f"train_aug ({DEEPLAB_LIST}, 10,582 lines); put it in '{fetch.archives}', or use SBD's "
                         f"benchmark.tgz ({SBD.url}) instead.")
    return {SEGMENTATION_CLASS_AUG: locate(SEGMENTATION_CLASS_AUG, fetch), DEEPLAB_LIST: listed}


def plan_voc(fetch: Fetch, out: Path, option: str = "--out", subset: bool = False,
             workers: int | None = None) -> Callable[[], dict[str, int]]:
    """Every input checked (before any work: a missing extra or archive must not cost an extraction first); the
    prepare itself, to run once every plan of the command is made."""
    require_new(out, option)
    sbd = _uses_sbd(fetch.archives)
    if sbd:
        _loadmat()
    given = {VOC2012: locate(VOC2012, fetch), **({SBD: locate(SBD, fetch)} if sbd else _deeplab_inputs(fetch))}
    return partial(prepare_voc, given, Path(out), subset, workers)

"""Web images as the new-class training data of a weak step (Web-WILSS, docs/method.md, "Web-WILSS", and the paper's caption
multi-labelling).

Inputs: `web_selection.txt` ('<class name> <image path>' per kept web image, written by `python -m wilss.web
discriminator`), `captions.tsv` ('<image path>\\t<caption>', `python -m wilss.web captions`) and the web root the
paths are relative to. Only the step's new classes are used. Each image's label vector holds its folder's class
plus every other new class its caption names (`wilss.data.vocabulary.labels_of`); with `caption_labels=false` only
the folder's class, as the released `--web`. Web images have no pixel labels, and the dataset returns none: a
weak step learns from image-level labels only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torchvision.transforms import v2

from wilss.core import log
from wilss.data.caption_files import read_captions_tsv
from wilss.data.dataset import ImageLabelDataset
from wilss.data.tasks import Task, VOC_CLASSES, VOC_TO_COCO, class_family
from wilss.data.vocabulary import labels_of
from wilss.errors import WilssError



def _require_file(path: Path, option: str, producer: str) -> Path:
    if not path.is_file():
        raise WilssError(f"'{path}' does not exist (option {option}); write it with {producer}.")
    return path


def read_selection(path: Path) -> list[tuple[str, str]]:
    """(class name, image path) per line of a web selection, sorted."""
    entries = []
    text = _require_file(path, "web.selection", "python -m wilss.web discriminator").read_text()
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[0] not in VOC_CLASSES[1:]:
            raise WilssError(f"{path}:{number}: expected '<class name> <image path>' with a VOC class name "
                             f"({', '.join(VOC_CLASSES[1:])}), got '{line}'. Fix the line or regenerate the file.")
        entries.append((fields[0], fields[1]))
    return sorted(entries)


def _class_id(task: Task, voc_id: int) -> int:
    """The dataset's id of a VOC class (COCO-to-VOC numbers the VOC classes with COCO ids)."""
    return VOC_TO_COCO[voc_id] if class_family(task.dataset) == "coco" else voc_id


def _step_entries(entries: list[tuple[str, str]], task: Task, num: int | None) -> list[tuple[int, str]]:
    """(VOC id, image path) of the step's new classes, at most `num` per class (the first by path)."""
    kept, per_class = [], {}
    for name, image in entries:
        voc_id = VOC_CLASSES.index(name)
        if _class_id(task, voc_id) in task.new_classes and (num is None or per_class.get(voc_id, 0) < num):
            per_class[voc_id] = per_class.get(voc_id, 0) + 1
            kept.append((voc_id, image))
    return kept


def label_matrix(entries: list[tuple[int, str]], task: Task, captions: dict[str, str] | None,
                 captions_path: Path | None) -> np.ndarray:
    """Multi-hot rows in task order without background: the folder's class, plus the step's new classes named
    in the caption when `captions` are given."""
    position = {class_id: k for k, class_id in enumerate(task.order)}
    labels = np.zeros((len(entries), len(task.order) - 1), dtype=np.float32)
    for row, (voc_id, image) in enumerate(entries):
        classes = {voc_id}
        if captions is not None:
            if image not in captions:
                raise WilssError(f"web image '{image}' has no caption in '{captions_path}' (option web.captions). "
                                 "Caption every web image (python -m wilss.web captions) or set "
                                 "web.caption_labels=false to label it with its folder's class only.")
            classes.update(labels_of(captions[image]))
        for voc_id_named in classes:
            class_id = _class_id(task, voc_id_named)
            if class_id in task.new_classes:
                labels[row, position[class_id] - 1] = 1.0
    return labels


def build_web_dataset(web_cfg, task: Task, transform: v2.Transform) -> ImageLabelDataset:
    """The step's new-class web images with their image-level labels, every listed file checked up front."""
    for option in ("root", "selection") + (("captions",) if web_cfg.caption_labels else ()):
        if not web_cfg[option]:
            raise WilssError(f"web.enabled=true needs web.{option}=<path> (see README, 'Web data').")
    root = Path(web_cfg.root)
    entries = _step_entries(read_selection(Path(web_cfg.selection)), task, web_cfg.num)
    new_names = task.class_names()[task.num_old:]
    if not entries:
        raise WilssError(f"web selection '{web_cfg.selection}' lists no image of the step's new classes "
                         f"{new_names} (option web.selection). Select web images of those classes first.")
    shown = {_class_id(task, voc_id) for voc_id, _ in entries}
    absent = [name for name, class_id in zip(new_names, task.new_classes) if class_id not in shown]
    if absent:
        log.warning("web selection '%s' has no image of %s: those classes get no positive example",
                    web_cfg.selection, absent)
    missing = [image for _, image in entries if not (root / image).is_file()]
    if missing:
        raise WilssError(f"{len(missing)} web image(s) of '{web_cfg.selection}' do not exist under web.root="
                         f"'{root}', e.g. '{root / missing[0]}'. Point web.root at the folder the paths are "
                         "relative to, or regenerate the selection.")
    captions_path = Path(web_cfg.captions) if web_cfg.caption_labels else None
    if captions_path:
        _require_file(captions_path, "web.captions", "python -m wilss.web captions")
    captions = read_captions_tsv(captions_path) if captions_path else None
    labels = label_matrix(entries, task, captions, captions_path)
    return ImageLabelDataset([root / image for _, image in entries], labels, transform, "web")

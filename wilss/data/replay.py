"""Web-WILSS replay data (docs/method.md, "Web-WILSS"): web images of old classes with step-0 pseudo-labels, replayed during
the weak incremental steps.

Layout (the released one, so the published pre-selected replay data can be used as is):
`<replay path>/<source id>/{image/*.jpg, label/*.png, train_fullPath.txt}`, each `train_fullPath.txt` line
'<image path> <label path>', each label PNG holding step-0 channel indices. `replay.num` is the number of
images taken per *source folder* (the released `--replay_num`, whose help text wrongly says "per class").
Unlike the released code, folders and lines are sorted, so the chosen images do not depend on the file system
(docs/web_wilss.md); `line_order=file` takes the first lines as the file lists them instead (the released choice).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from wilss.data.dataset import augment_pair
from wilss.data.index import scan
from wilss.data.labels import IGNORE
from wilss.data.sources import Split
from wilss.data.tasks import Task
from wilss.data.validate import open_pair
from wilss.errors import WilssError

LIST_FILE = "train_fullPath.txt"
LINE_ORDERS = ("sorted", "file")


def _listed_file(folder: Path, listed: str, kind: str, list_file: Path, number: int) -> Path:
    """The file a list line names: the path as written (relative ones against the source folder) or, when that
    does not exist, the same name in the folder's `image/` or `label/` (lists written on another machine hold
    that machine's absolute paths, as the published replay data do)."""
    written = folder / listed
    moved = folder / kind / Path(listed).name
    for candidate in (written, moved):
        if candidate.is_file():
            return candidate
    raise WilssError(
        f"{list_file}:{number}: {kind} file '{listed}' does not exist (nor '{moved}'). Restore the file, or "
        "regenerate the replay data (python -m wilss.web pseudo-label), or remove the line."
    )


def _folder_pairs(folder: Path, num: int, line_order: str) -> list[tuple[Path, Path]]:
    """The first `num` (image, label) pairs listed in one source folder."""
    list_file = folder / LIST_FILE
    if not list_file.is_file():
        raise WilssError(
            f"replay folder '{folder}' has no {LIST_FILE} (option replay.path): every source folder needs one "
            "listing '<image path> <label path>' per line. Regenerate the replay data "
            "(python -m wilss.web pseudo-label) or remove the folder."
        )
    lines = [(number, line.split()) for number, line in enumerate(list_file.read_text().splitlines(), start=1)
             if line.strip()]
    for number, fields in lines:
        if len(fields) != 2:
            raise WilssError(f"{list_file}:{number}: expected '<image path> <label path>', got "
                             f"'{' '.join(fields)}'. Fix the line or regenerate the file.")
    if line_order == "sorted":
        lines.sort(key=lambda entry: entry[1])
    return [(_listed_file(folder, image, "image", list_file, number),
             _listed_file(folder, label, "label", list_file, number)) for number, (image, label) in lines[:num]]


def read_replay_pairs(path: Path, num: int, line_order: str = "sorted") -> list[tuple[Path, Path]]:
    """Every selected (image, label) pair of the replay folder, source folders in sorted order. Plain files
    next to the source folders (e.g. manifest.json) are not sources and are skipped."""
    if line_order not in LINE_ORDERS:
        raise WilssError(f"replay.line_order={line_order}: choose one of {LINE_ORDERS}.")
    if num < 1:
        raise WilssError(f"replay.num={num}: take at least one image per source folder.")
    if not path.is_dir():
        raise WilssError(f"replay folder '{path}' does not exist (option replay.path). Point it at the output of "
                         "python -m wilss.web pseudo-label (or the published replay data).")
    folders = sorted(entry for entry in path.iterdir() if entry.is_dir())
    pairs = [pair for folder in folders for pair in _folder_pairs(folder, num, line_order)]
    if not pairs:
        raise WilssError(f"replay folder '{path}' lists no image (option replay.path): it needs source folders "
                         f"'<source id>/' with a non-empty {LIST_FILE}.")
    return pairs


def check_labels(pairs: list[tuple[Path, Path]], path: Path, num_step0: int) -> None:
    """Every pair readable, sizes matching, label values among the step-0 channels (255 = ignore)."""
    split = Split("replay", tuple(p[0] for p in pairs), tuple(p[1] for p in pairs), path,
                  frozenset(range(num_step0)) | {IGNORE})
    try:
        scan(split)
    except WilssError as err:
        raise WilssError(
            f"replay data (option replay.path): {err} Replay labels hold the step-0 model's channel indices "
            f"(0..{num_step0 - 1} for this task): regenerate them with python -m wilss.web pseudo-label from this "
            "task's step-0 checkpoint."
        ) from None


def crop_label_vector(mask: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Image-level vector of a (cropped) pseudo-label: entry k−1 is 1 for every class index k > 0 present."""
    present = torch.unique(mask).long()
    present = present[(present > 0) & (present != IGNORE)]
    vector = torch.zeros(num_labels, dtype=torch.float32)
    vector[present - 1] = 1.0
    return vector


class ReplayDataset(Dataset):
    """Replay images with the same train transform as the real data, applied jointly to the pseudo-label, whose
    *cropped* content gives the image-level vector (the real images' vectors describe the full image,
    docs/method.md, "Tasks and data"). Old-class entries may be 1 here; only the vector leaves the dataset,
    never the pixel labels.
    Items are addressed by `(index, seed)` pairs, as every training dataset."""

    def __init__(self, images: list[Path], labels: list[Path], num_labels: int, transform: v2.Transform) -> None:
        self.images, self.labels, self.num_labels, self.transform = list(images), list(labels), num_labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = item
        image, raw = open_pair(self.images[index], self.labels[index])
        image, mask = augment_pair(self.transform, seed, image, torch.from_numpy(raw), self.labels[index])
        return {"image": image, "labels": crop_label_vector(mask, self.num_labels),
                "index": torch.tensor(index)}


def build_replay_dataset(replay_cfg, task: Task, transform: v2.Transform) -> ReplayDataset:
    """The replay set of a weak step, validated up front (every error names the file and the fix)."""
    if not replay_cfg.path:
        raise WilssError("replay.enabled=true needs replay.path=<folder> (the output of python -m wilss.web "
                         "pseudo-label, or the published replay data).")
    path = Path(replay_cfg.path)
    pairs = read_replay_pairs(path, int(replay_cfg.num), replay_cfg.line_order)
    check_labels(pairs, path, len(task.steps[0]))
    return ReplayDataset([p[0] for p in pairs], [p[1] for p in pairs], len(task.order) - 1, transform)

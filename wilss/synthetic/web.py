"""A synthetic stand-in for the Web-WILSS web data, drawn for a dataset in the VOC layout.

Two kinds of web images, in a shifted "web" look (colourful busy backgrounds, larger objects, blur, colour
casts, strong JPEG compression; the class families are those of `wilss.synthetic.voc`):

- `classes/<class name>/`: what a search for the class name returns: images showing the class, sometimes with
  another class; their captions usually name them (the captioner sometimes misses).
- `replay/<source id>/`: what a search with the caption of dataset training image <source id> returns: some
  images show the source's classes (matching), the others (distractors) show other classes or no object.

Captions come as the released files (`captions/raw/<folder>.txt`, `captions/nouns/<folder>.txt`),
`pascal_classes.txt` lists the source images' classes as the released file does (with its dog/table swap,
docs/web_wilss.md, "Released vs reconstructed"), and `truth.json` holds what each image really shows, for
evaluation only.

Byte-identical output for the same parameters; `ensure_synthetic_web` regenerates only when they change.
Command line: `python -m wilss.synthetic.web --dataset DIR --out DIR [--per-class N] [--per-source N]
[--sources N] [--size S] [--seed K] [--force]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from wilss.data.caption_files import caption_line, noun_line
from wilss.data.index import scan
from wilss.data.sources import voc_split
from wilss.data.vocabulary import CLASS_NAMES, class_file_line
from wilss.errors import WilssError, exit_on_user_error
from wilss.synthetic.captions import nouns_of, objects_caption, other_things_caption, text_of
from wilss.synthetic.voc import PARAMS_FILE as DATASET_PARAMS_FILE
from wilss.synthetic.voc import NUM_CLASSES, Domain, _compose, _rng, build_atomically, recorded_params

FORMAT_VERSION = 1
PARAMS_FILE = "synthetic_web.json"
CLASS_FILE = "pascal_classes.txt"
TRUTH_FILE = "truth.json"
LAYOUT = ("classes", "replay", "captions", CLASS_FILE, TRUTH_FILE, PARAMS_FILE)
CLASSES_KEY, REPLAY_KEY = 10, 11          # spawn keys of the two kinds of images, apart from the dataset's 0, 1

WEB_LOOK = Domain(
    prefix="web", object_size=(0.3, 0.75), background_saturation=0.6, background_pattern=0.15,
    background_value=(0.15, 1.0), background_noise=0.12, pixel_noise=0.03, jpeg_quality=45, blur=1.2,
    colour_cast=0.12,
)
MATCHING_SHARE = 0.5        # of the images retrieved with a source's caption
EXTRA_CLASS_SHARE = 0.3     # images that also show a class that was not searched for
MISSED_CAPTION_SHARE = 0.1  # class-search images whose caption names no VOC class
EMPTY_DISTRACTOR_SHARE = 0.5  # distractors without any VOC object


@dataclass(frozen=True)
class WebImage:
    """One generated web image: what it shows, what its caption says, and whether it is a distractor."""

    classes: list[int]
    caption: tuple
    distractor: bool


# --------------------------------------------------------------------------------------------------------------
# What each image shows and says
# --------------------------------------------------------------------------------------------------------------

def _others(rng: np.random.Generator, excluded: list[int], count: int) -> list[int]:
    """`count` random classes outside `excluded`."""
    pool = [c for c in range(1, NUM_CLASSES + 1) if c not in excluded]
    return [pool[int(k)] for k in rng.choice(len(pool), size=min(count, len(pool)), replace=False)]


def _with_extra(rng: np.random.Generator, classes: list[int], excluded: list[int]) -> list[int]:
    return classes + _others(rng, excluded, 1) if rng.random() < EXTRA_CLASS_SHARE else classes


def class_search_image(rng: np.random.Generator, class_id: int) -> WebImage:
    classes = _with_extra(rng, [class_id], [class_id])
    missed = rng.random() < MISSED_CAPTION_SHARE
    return WebImage(classes, other_things_caption(rng) if missed else objects_caption(rng, classes), False)


def caption_search_image(rng: np.random.Generator, source_classes: list[int]) -> WebImage:
    """A matching image (some of the source's classes, maybe one more) or a distractor (none of them)."""
    if source_classes and rng.random() < MATCHING_SHARE:
        shown = [source_classes[int(k)] for k in sorted(rng.choice(
            len(source_classes), size=int(rng.integers(1, min(2, len(source_classes)) + 1)), replace=False))]
        classes = _with_extra(rng, shown, source_classes)
        return WebImage(classes, objects_caption(rng, classes), False)
    if rng.random() < EMPTY_DISTRACTOR_SHARE:
        return WebImage([], other_things_caption(rng), True)
    classes = _others(rng, source_classes, int(rng.integers(1, 3)))
    return WebImage(classes, objects_caption(rng, classes), True)


# --------------------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------------------

def _dataset_fingerprint(dataset_root: Path) -> str:
    """sha256 of the dataset's train list and generation parameters: what the web data is derived from."""
    digest = hashlib.sha256()
    for name in ("splits/train_aug.txt", DATASET_PARAMS_FILE):
        path = dataset_root / name
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()


def _params(dataset_root: Path, per_class: int, per_source: int, sources: int | None, size: int,
            seed: int) -> dict:
    """What synthetic_web.json records; the web data is reused only if all of it matches."""
    for name, number, minimum in (("per_class", per_class, 1), ("per_source", per_source, 1),
                                  ("sources", 1 if sources is None else sources, 1), ("size", size, 16),
                                  ("seed", seed, 0)):
        if not isinstance(number, (int, np.integer)) or number < minimum:
            raise WilssError(f"synthetic web data: --{name.replace('_', '-')} must be an integer >= {minimum}, "
                             f"got {number!r}.")
    voc_split(dataset_root, "train", option="--dataset")     # fails early, naming the option, if it is not VOC
    return {"version": FORMAT_VERSION, "dataset_sha256": _dataset_fingerprint(dataset_root),
            "per_class": int(per_class), "per_source": int(per_source),
            "sources": None if sources is None else int(sources), "size": int(size), "seed": int(seed)}


def _source_classes(dataset_root: Path, limit: int | None) -> list[tuple[str, list[int]]]:
    """(image id, its VOC classes) of the first `limit` training images of the dataset's list."""
    split = voc_split(dataset_root, "train", option="--dataset")
    presence = scan(split)[:limit]
    return [(image.stem, [int(c) for c in np.flatnonzero(row[1:NUM_CLASSES + 1]) + 1])
            for image, row in zip(split.images, presence)]


def _file_names(rng: np.random.Generator, count: int) -> list[str]:
    """Unique web-like names, so that sorted order is unrelated to generation order (and to matching)."""
    return [f"{int(n):06x}.jpg" for n in rng.choice(16 ** 6, size=count, replace=False)]


def _write_folder(out: Path, kind: str, folder: str, images: list[tuple[str, WebImage, np.ndarray]],
                  truth: dict) -> None:
    """The images of one folder, its raw caption and noun files, and its truth entries."""
    (out / kind / folder).mkdir(parents=True)
    captions, nouns = [], []
    for name, image, pixels in sorted(images, key=lambda item: item[0]):
        Image.fromarray(pixels).save(out / kind / folder / name, quality=WEB_LOOK.jpeg_quality)
        captions.append(caption_line(name, text_of(image.caption)))
        nouns.append(noun_line(name, nouns_of(image.caption)))
        truth[f"{kind}/{folder}/{name}"] = {"classes": sorted(image.classes), "distractor": image.distractor}
    (out / "captions" / "raw" / f"{folder}.txt").write_text("\n".join(captions) + "\n")
    (out / "captions" / "nouns" / f"{folder}.txt").write_text("\n".join(nouns) + "\n")


def _draw(seed: int, key: tuple[int, int], count: int, size: int, make) -> list[tuple[str, WebImage, np.ndarray]]:
    """`count` images of one folder: content from `make(rng)`, pixels in the web look, names."""
    names = _file_names(_rng(seed, *key, 0, 0), count)
    drawn = []
    for index, name in enumerate(names):
        image = make(_rng(seed, *key, 1, index))
        pixels, _ = _compose(_rng(seed, *key, 2, index), image.classes, size, WEB_LOOK)
        drawn.append((name, image, pixels))
    return drawn


def generate_web(out: Path, dataset_root: Path, params: dict) -> None:
    """Write the web data for `params` (from `_params`) into `out`, synthetic_web.json last."""
    out, seed, size = Path(out), params["seed"], params["size"]
    (out / "captions" / "raw").mkdir(parents=True, exist_ok=True)
    (out / "captions" / "nouns").mkdir(parents=True, exist_ok=True)
    truth: dict[str, dict] = {}
    for class_id, name in enumerate(CLASS_NAMES, start=1):
        images = _draw(seed, (CLASSES_KEY, class_id), params["per_class"], size,
                       lambda rng, c=class_id: class_search_image(rng, c))
        _write_folder(out, "classes", name, images, truth)
    sources = _source_classes(Path(dataset_root), params["sources"])
    for position, (source_id, classes) in enumerate(sources):
        images = _draw(seed, (REPLAY_KEY, position), params["per_source"], size,
                       lambda rng, c=classes: caption_search_image(rng, c))
        _write_folder(out, "replay", source_id, images, truth)
    lines = [class_file_line(source_id, [CLASS_NAMES[c - 1] for c in classes])
             for source_id, classes in sorted(sources)]
    (out / CLASS_FILE).write_text("\n".join(lines) + "\n")
    (out / TRUTH_FILE).write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")
    (out / PARAMS_FILE).write_text(json.dumps(params, indent=2, sort_keys=True) + "\n")


def _build(out: Path, dataset_root: Path, params: dict, force: bool) -> bool:
    return build_atomically(Path(out), params, force, lambda work: generate_web(work, dataset_root, params),
                            PARAMS_FILE, LAYOUT)


def ensure_synthetic_web(out: Path, dataset_root: Path, per_class: int = 20, per_source: int = 6,
                         sources: int | None = None, size: int = 64, seed: int = 0) -> Path:
    """Generate the web data for the dataset at `dataset_root` into `out` unless it is current; return `out`."""
    out, dataset_root = Path(out), Path(dataset_root)
    params = _params(dataset_root, per_class, per_source, sources, size, seed)
    if recorded_params(out, PARAMS_FILE) != params:
        _build(out, dataset_root, params, force=False)
    return out


# --------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wilss.synthetic.web",
        description="Draw synthetic web data for a VOC-layout dataset: class-search images, caption-search "
                    "(replay) images with matching images and distractors, the released caption files, "
                    "pascal_classes.txt and truth.json. The same parameters always give byte-identical files.",
    )
    parser.add_argument("--dataset", type=Path, required=True, metavar="DIR",
                        help="VOC-layout dataset whose training images are the replay sources "
                             "(e.g. one made by python -m wilss.synthetic.voc)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="web root to write (replaced "
                                                                               "atomically)")
    parser.add_argument("--per-class", type=int, default=20, metavar="N",
                        help="images per class folder (default: 20)")
    parser.add_argument("--per-source", type=int, default=6, metavar="N",
                        help="images retrieved per source image (default: 6)")
    parser.add_argument("--sources", type=int, default=None, metavar="N",
                        help="use only the first N training images of the dataset's list (default: all)")
    parser.add_argument("--size", type=int, default=64, metavar="S", help="image side in pixels (default: 64)")
    parser.add_argument("--seed", type=int, default=0, metavar="K", help="random seed (default: 0)")
    parser.add_argument("--force", action="store_true", help="regenerate even if DIR is current")
    return parser


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    params = _params(args.dataset, args.per_class, args.per_source, args.sources, args.size, args.seed)
    start = time.perf_counter()
    if _build(args.out, args.dataset, params, force=args.force):
        print(f"wrote synthetic web data for {args.dataset} to {args.out} in {time.perf_counter() - start:.1f} s")
    else:
        print(f"{args.out} already holds this synthetic web data; nothing to do (--force regenerates)")


if __name__ == "__main__":
    main()

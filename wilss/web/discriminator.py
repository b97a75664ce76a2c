"""`python -m wilss.web discriminator`: the Fourier domain discriminator of Web-WILSS, and the new-class web images
it keeps.

Reconstructed from the paper's description (no code was released; reference web-wilss-paper.md §2):
  (p_dataset, p_web) = M_D(|F(x)|), M_D an EfficientNet-B0 (torchvision, random init, 2 outputs) on the
  log-amplitude spectrum (`wilss.web.fourier`); trained once, at step 0, on dataset images (class 0) against web
  images (class 1); a new-class web image is kept when p_dataset / p_web > 1, i.e. log-ratio = logit_0 - logit_1 > 0.
Choices the paper leaves open, made here:
  - negatives: the web images found for the task's step-0 classes (`classes/<name>/`), never those of the scored
    classes, so the discriminator meets the new classes only when it scores them;
  - the two domains are balanced (the same number of images from each, `--max-per-domain` caps it) and a seeded
    `--holdout` fraction of each is held out to measure the accuracy;
  - `--per-class N` keeps the N highest log-ratios of a class (top-k; the paper keeps 500 of ~10K, first-k or top-k
    is not stated); 0 keeps every image that passes;
  - training (not in the paper): Adam with a cosine decay, zero-initialised last layer, then the BatchNorm
    statistics recomputed over the training set under the final weights (see `recalibrate_batch_norm`).
The defaults suit the synthetic data on a CPU. For VOC-sized web data: --size 224 --epochs 10 --per-class 500
--max-per-domain 10582 --device cuda --workers 8.

Outputs in --out: web_selection.txt ("<class name> <image path>", path relative to the web root, sorted),
scores.tsv (every scored image with its log-ratio), discriminator.pt, manifest.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision.models import efficientnet_b0

from wilss.atomic import atomic_write_bytes
from wilss.core import configure_determinism, sha256_of
from wilss.data.sources import voc_split
from wilss.data.tasks import VOC_CLASSES, get_task
from wilss.errors import WilssError, exit_on_user_error
from wilss.web.captions import IMAGE_SUFFIXES
from wilss.web.fourier import SpectrumDataset
from wilss.web.manifest import file_records, write_manifest

BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d, torch.nn.SyncBatchNorm)

DATASET, WEB = 0, 1          # output channels of the discriminator
CHECKPOINT, SELECTION, SCORES = "discriminator.pt", "web_selection.txt", "scores.tsv"


# ------------------------------------------------------------------------------------------------------------
# Which images
# ------------------------------------------------------------------------------------------------------------

def class_images(web_root: Path, name: str) -> list[Path]:
    """The web images found by searching `name`: `<web root>/classes/<name>/*`, sorted."""
    folder = web_root / "classes" / name
    if not folder.is_dir():
        raise WilssError(f"web image folder '{folder}' is missing; the web root (option --web-root) needs one "
                         f"folder per class name under classes/, or leave '{name}' out of --classes.")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def scored_and_negative_classes(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Scored: --classes, else the new classes of --task/--step. Negatives: the task's step-0 classes minus those."""
    task = get_task("voc", args.task, args.step)
    if args.classes:
        scored = [name.strip() for name in args.classes.split(",") if name.strip()]
        unknown = sorted(set(scored) - set(VOC_CLASSES[1:]))
        if unknown:
            raise WilssError(f"--classes: unknown class name(s) {unknown}; use VOC names, e.g. "
                             f"{', '.join(VOC_CLASSES[1:4])}.")
    else:
        if args.step == 0:
            raise WilssError("--step 0 has no new classes to score; pass --step >= 1 or --classes.")
        scored = [VOC_CLASSES[c] for c in task.new_classes]
    negatives = [VOC_CLASSES[c] for c in task.steps[0] if c != 0 and VOC_CLASSES[c] not in scored]
    return sorted(set(scored)), negatives


def _pick(files: list[Path], count: int, holdout: float, seed: int, domain: int) -> tuple[list[Path], list[Path]]:
    """`count` files drawn with a seeded permutation, split into (train, held-out), each sorted."""
    order = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(domain,)))).permutation(
        len(files))[:count]
    held = max(1, round(count * holdout))
    return sorted(files[i] for i in order[held:]), sorted(files[i] for i in order[:held])


def balanced_split(dataset_files: list[Path], web_files: list[Path], max_per_domain: int, holdout: float,
                   seed: int) -> dict[str, dict[int, list[Path]]]:
    """{"train"|"heldout": {domain: files}} with as many dataset as web images (at most max_per_domain each)."""
    count = min(len(dataset_files), len(web_files), max_per_domain or len(dataset_files))
    if count < 4:
        raise WilssError(f"only {len(dataset_files)} dataset and {len(web_files)} negative web images: the "
                         "discriminator needs at least 4 of each (check --dataset-root, --web-root and --task).")
    split: dict[str, dict[int, list[Path]]] = {"train": {}, "heldout": {}}
    for domain, files in ((DATASET, dataset_files), (WEB, web_files)):
        split["train"][domain], split["heldout"][domain] = _pick(files, count, holdout, seed, domain)
    return split


def spectra(files_by_domain: dict[int, list[Path]], size: int) -> SpectrumDataset:
    paths = [p for domain in sorted(files_by_domain) for p in files_by_domain[domain]]
    labels = [domain for domain in sorted(files_by_domain) for _ in files_by_domain[domain]]
    return SpectrumDataset(paths, labels, size)


# ------------------------------------------------------------------------------------------------------------
# Training and scoring
# ------------------------------------------------------------------------------------------------------------

def new_discriminator() -> torch.nn.Module:
    """EfficientNet-B0 from scratch (ImageNet weights are trained on pixels, not on spectra, and need a download).
    The last layer starts at zero: torchvision's uniform init gives logits of several units on 1280 features,
    which on a few hundred images takes most of the training to undo."""
    network = efficientnet_b0(weights=None, num_classes=2)
    torch.nn.init.zeros_(network.classifier[-1].weight)
    torch.nn.init.zeros_(network.classifier[-1].bias)
    return network


def train(model: torch.nn.Module, data: SpectrumDataset, args: argparse.Namespace, device: torch.device) -> None:
    """Cross-entropy, Adam with a cosine decay to zero (the last epochs settle instead of jumping between
    solutions), seeded shuffling; prints the mean loss of each epoch."""
    loader = DataLoader(data, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        generator=torch.Generator().manual_seed(args.seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * len(loader))
    model.train()
    for epoch in range(args.epochs):
        total, seen = 0.0, 0
        for spectrum, label in loader:
            loss = torch.nn.functional.cross_entropy(model(spectrum.to(device)), label.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total, seen = total + loss.item() * len(label), seen + len(label)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / seen:.4f}", flush=True)
    recalibrate_batch_norm(model, DataLoader(data, batch_size=args.batch_size, num_workers=args.workers), device)


@torch.no_grad()
def recalibrate_batch_norm(model: torch.nn.Module, loader: DataLoader, device: torch.device) -> None:
    """Replace the running BatchNorm statistics by exact averages over the training set under the final weights.
    After a few dozen iterations the running averages still mix in the statistics of early weights, and the
    eval-mode network then predicts one domain for everything."""
    norms = {m: m.momentum for m in model.modules() if isinstance(m, BATCH_NORMS)}
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None            # cumulative average over all batches
    model.train()
    for spectrum, _ in loader:
        model(spectrum.to(device))
    for norm, momentum in norms.items():
        norm.momentum = momentum


@torch.inference_mode()
def log_ratios(model: torch.nn.Module, data: SpectrumDataset, args: argparse.Namespace,
               device: torch.device) -> np.ndarray:
    """log(p_dataset / p_web) of every item, in order (eval mode: independent of the batching)."""
    model.eval()
    loader = DataLoader(data, batch_size=args.batch_size, shuffle=False, num_workers=args.workers)
    chunks = [(logits[:, DATASET] - logits[:, WEB]).cpu() for logits in
              (model(spectrum.to(device)) for spectrum, _ in loader)]
    return torch.cat(chunks).double().numpy() if chunks else np.zeros(0)


def heldout_accuracy(model, data: SpectrumDataset, args, device) -> dict[str, float]:
    predicted_dataset = log_ratios(model, data, args, device) > 0
    truth_dataset = np.array(data.labels) == DATASET
    correct = predicted_dataset == truth_dataset
    return {"all": round(float(correct.mean()), 6),
            "dataset": round(float(correct[truth_dataset].mean()), 6),
            "web": round(float(correct[~truth_dataset].mean()), 6)}


def keep(scored: dict[str, list[tuple[Path, float]]], per_class: int) -> dict[str, list[tuple[Path, float]]]:
    """Per class, the images with log-ratio > 0, the `per_class` highest if set (ties: by path)."""
    kept = {}
    for name, items in scored.items():
        passing = sorted((item for item in items if item[1] > 0), key=lambda item: (-item[1], item[0]))
        kept[name] = sorted(passing[:per_class] if per_class else passing)
    return kept


# ------------------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------------------

def save_discriminator(path: Path, model: torch.nn.Module, meta: dict) -> None:
    payload = {"model": model.state_dict(), "meta": meta}
    atomic_write_bytes(path, lambda handle: torch.save(payload, handle))


def load_discriminator(path: Path) -> tuple[torch.nn.Module, dict]:
    """A discriminator.pt written by this command (for a later step: the paper trains it once, at step 0)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        model = new_discriminator()
        model.load_state_dict(payload["model"])
        return model, payload["meta"]
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as err:
        raise WilssError(f"--discriminator '{path}' is not a discriminator.pt written by `python -m wilss.web "
                         f"discriminator` ({type(err).__name__}: {err}); train one or pass the right file.") from None


def _write_text(path: Path, lines: list[str]) -> None:
    payload = "".join(f"{line}\n" for line in lines).encode()
    atomic_write_bytes(path, lambda handle: handle.write(payload))


def relative(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


# ------------------------------------------------------------------------------------------------------------
# Command
# ------------------------------------------------------------------------------------------------------------

def fit(args: argparse.Namespace, negatives: list[str], device: torch.device) -> tuple[torch.nn.Module, dict, dict]:
    """Train on dataset vs negative web images; return (model, its meta, the manifest's input records)."""
    dataset_files = sorted(set(voc_split(args.dataset_root, "train", option="--dataset-root").images))
    web_files = [p for name in negatives for p in class_images(args.web_root, name)]
    split = balanced_split(dataset_files, web_files, args.max_per_domain, args.holdout, args.seed)
    training_set = spectra(split["train"], args.size)
    model = new_discriminator().to(device)
    train(model, training_set, args, device)
    accuracy = heldout_accuracy(model, spectra(split["heldout"], args.size), args, device)
    meta = {"size": args.size, "outputs": ["dataset", "web"], "heldout_accuracy": accuracy,
            "negative_classes": negatives, "training": training_parameters(args)}
    inputs = {f"{part}_{name}": file_records(split[part][domain], root)
              for part in ("train", "heldout")
              for domain, name, root in ((DATASET, "dataset", args.dataset_root), (WEB, "web", args.web_root))}
    return model, meta, inputs


def training_parameters(args: argparse.Namespace) -> dict:
    return {key: getattr(args, key) for key in ("task", "epochs", "batch_size", "lr", "holdout", "max_per_domain",
                                                "seed")}


def obtain_discriminator(args: argparse.Namespace, negatives: list[str],
                         device: torch.device) -> tuple[torch.nn.Module, dict, dict]:
    """The --discriminator file, or a new one trained (and saved) now; with its meta and input records."""
    if args.discriminator:
        model, meta = load_discriminator(args.discriminator)
        inputs = {"discriminator": {"path": Path(args.discriminator).name, "sha256": sha256_of(args.discriminator)}}
        return model.to(device), meta, inputs
    model, meta, inputs = fit(args, negatives, device)
    save_discriminator(args.out / CHECKPOINT, model, meta)
    return model, meta, inputs


def score(model, candidates: dict[str, list[Path]], size: int, args, device) -> dict[str, list[tuple[Path, float]]]:
    """{class: [(image, log-ratio rounded to 6 decimals)]} in the candidates' order."""
    files = [p for name in sorted(candidates) for p in candidates[name]]
    ratios = log_ratios(model, SpectrumDataset(files, [WEB] * len(files), size), args, device)
    ratio_of = dict(zip(files, (round(float(r), 6) for r in ratios)))
    return {name: [(p, ratio_of[p]) for p in candidates[name]] for name in sorted(candidates)}


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    configure_determinism(True)
    device = torch.device(args.device)
    scored_names, negatives = scored_and_negative_classes(args)
    candidates = {name: class_images(args.web_root, name) for name in scored_names}   # fail before training
    model, meta, inputs = obtain_discriminator(args, negatives, device)
    accuracy = meta["heldout_accuracy"]
    print(f"held-out accuracy: {accuracy['all']:.4f} (dataset {accuracy['dataset']:.4f}, web {accuracy['web']:.4f})")
    scored = score(model, candidates, meta["size"], args, device)
    kept = keep(scored, args.per_class)

    _write_text(args.out / SELECTION, [f"{name} {relative(p, args.web_root)}" for name in scored_names
                                       for p, _ in kept[name]])
    _write_text(args.out / SCORES, ["class\tpath\tlog_ratio"] + [
        f"{name}\t{relative(p, args.web_root)}\t{r:.6f}" for name in scored_names for p, r in scored[name]])
    counts = {name: {"scored": len(scored[name]), "passed": sum(r > 0 for _, r in scored[name]),
                     "kept": len(kept[name])} for name in scored_names}
    for name in scored_names:
        print(f"{name}: kept {counts[name]['kept']} of {counts[name]['scored']} "
              f"({counts[name]['passed']} with p_dataset/p_web > 1)")
    written = [args.out / SELECTION, args.out / SCORES] + ([] if args.discriminator else [args.out / CHECKPOINT])
    write_manifest(args.out, "discriminator",
                   parameters={"classes": scored_names, "step": args.step, "per_class": args.per_class,
                               "device": args.device, "discriminator": meta},
                   inputs=inputs | {"scored": file_records([p for name in scored_names for p in candidates[name]],
                                                           args.web_root)},
                   outputs={"heldout_accuracy": accuracy, "counts": counts,
                            "kept": {name: [{"path": relative(p, args.web_root), "log_ratio": r}
                                            for p, r in kept[name]] for name in scored_names},
                            "files": file_records(written, args.out)})
    return {"heldout_accuracy": accuracy, "counts": counts}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wilss.web discriminator",
        description="Train the Fourier-amplitude domain discriminator (EfficientNet-B0, dataset vs web images of the "
                    "task's step-0 classes) and keep the new-class web images with p_dataset/p_web > 1. "
                    "Real-data settings: --size 224 --epochs 10 --per-class 500 --max-per-domain 10582 "
                    "--device cuda --workers 8.")
    p.add_argument("--dataset-root", type=Path, required=True, help="dataset in the VOC layout (train split images)")
    p.add_argument("--web-root", type=Path, required=True, help="web data root with classes/<class name>/ folders")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--task", default="15-5", help="VOC task whose step-0 classes give the negatives (default 15-5)")
    p.add_argument("--step", type=int, default=1, help="step whose new classes are scored (default 1)")
    p.add_argument("--classes", default="", help="comma-separated class names to score instead of the step's")
    p.add_argument("--per-class", type=int, default=0,
                   help="keep at most this many per class, highest p_dataset/p_web first (paper: 500; 0 = all)")
    p.add_argument("--discriminator", type=Path, default=None,
                   help="reuse this discriminator.pt (trained at step 0) instead of training one")
    p.add_argument("--size", type=int, default=32, help="spectrum side in pixels (default 32; real data 224)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--holdout", type=float, default=0.2, help="fraction of each domain held out (default 0.2)")
    p.add_argument("--max-per-domain", type=int, default=0,
                   help="images per domain, dataset and web balanced (default 0 = as many as the smaller has)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, shuffling and initialisation")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--workers", type=int, default=0, help="data-loading worker processes (default 0)")
    return p


def check_arguments(args: argparse.Namespace) -> None:
    rules = [(0 < args.holdout < 1, "--holdout must be between 0 and 1"),
             (args.size >= 16, "--size must be at least 16 pixels"),
             (args.epochs >= 1 and args.batch_size >= 1, "--epochs and --batch-size must be positive"),
             (args.per_class >= 0 and args.max_per_domain >= 0, "--per-class and --max-per-domain must be >= 0"),
             (args.web_root.is_dir(), f"--web-root '{args.web_root}' is not a folder")]
    for ok, message in rules:
        if not ok:
            raise WilssError(f"{message}.")


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    check_arguments(args)
    args.out.mkdir(parents=True, exist_ok=True)
    run(args)

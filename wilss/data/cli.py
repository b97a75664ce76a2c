"""`wilss data prepare voc|coco-voc ...` and `wilss data check ROOT [overrides]` (also `python -m wilss.data.cli`)."""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import sys
from pathlib import Path

from wilss.errors import WilssError, exit_on_user_error

EPILOG = """examples:
  wilss data prepare voc --archives ~/downloads --out data/voc
  wilss data prepare coco-voc --archives ~/downloads --out data/coco --voc-out data/voc
  wilss data check data/voc
  wilss data check data/coco dataset=coco-voc dataset.voc_root=data/voc
See docs/data.md."""
HYDRA_PLAIN = re.compile(r"[\w./~+-]+")   # an override value Hydra reads as is; others are quoted


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wilss data", description="Prepare and check datasets.", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare", help="official archives -> the kit's layout")
    prepare.add_argument("dataset", choices=("voc", "coco-voc"))
    prepare.add_argument("--archives", type=Path, required=True,
                         help="folder with the downloaded archives (or the folders extracting them gives)")
    prepare.add_argument("--out", type=Path, required=True, help="dataset folder to create (coco-voc: the COCO root)")
    prepare.add_argument("--voc-out", type=Path, help="coco-voc: also prepare the VOC side into this folder")
    prepare.add_argument("--download", action="store_true", help="fetch missing archives from their public URLs")
    prepare.add_argument("--download-timeout", type=float, default=60.0, metavar="SECONDS",
                         help="give up a download after this long without data (default: 60)")
    prepare.add_argument("--no-verify", action="store_true", help="skip the archives' official MD5 check")
    prepare.add_argument("--subset", action="store_true",
                         help="the archives hold a smaller set on purpose: accept lists of other than the official "
                              "sizes (an empty split is refused even then)")
    prepare.add_argument("--workers", type=int, default=None, help="conversion threads (default: up to 8)")
    check = commands.add_parser("check", help="decode every image and mask once; list every problem")
    check.add_argument("root", type=Path, help="dataset root (dataset.root; dataset.coco_root for coco-voc)")
    check.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. dataset=coco-voc task=10-10")
    check.add_argument("--step", type=int, action="append", dest="steps",
                       help="check only what this step reads (repeatable; default: every step)")
    return parser


def _archives_folder(path: Path) -> Path:
    if not path.is_dir():
        state = "is a file" if path.exists() else "does not exist"
        raise WilssError(f"'{path}' {state} (option --archives): it must be a folder, the one holding the "
                         "downloaded archives or the folders extracting them gives (docs/data.md).")
    return path


def _hydra_value(path: Path) -> str:
    text = str(path)
    return text if HYDRA_PLAIN.fullmatch(text) else "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def next_command(dataset: str, out: Path, voc_out: Path | None) -> str:
    """The check of what a prepare wrote, as a command that works as printed (shell-quoted)."""
    words = ["wilss", "data", "check", str(out)]
    if dataset == "coco-voc":
        words += ["dataset=coco-voc", f"dataset.voc_root={_hydra_value(voc_out)}"] if voc_out else \
            ["dataset=coco-voc", "--step", "0"]   # the VOC side, read from step 1 on, is prepared apart
    return shlex.join(words)


def _prepare(args) -> None:
    from wilss.data.prepare.archives import Fetch
    from wilss.data.prepare.coco import plan_coco
    from wilss.data.prepare.files import publish
    from wilss.data.prepare.voc import plan_voc

    if args.voc_out is not None and args.voc_out.absolute() == args.out.absolute():
        raise WilssError(f"--voc-out '{args.voc_out}' is the same folder as --out: give the VOC side its own.")
    fetch = Fetch(_archives_folder(args.archives), not args.no_verify, args.download, args.download_timeout)
    options = {"subset": args.subset, "workers": args.workers}
    plans = {args.out: (plan_voc if args.dataset == "voc" else plan_coco)(fetch, args.out, "--out", **options)}
    if args.dataset == "coco-voc" and args.voc_out:
        plans[args.voc_out] = plan_voc(fetch, args.voc_out, "--voc-out", **options)
    counts = {root: run() for root, run in plans.items()}   # every input was checked above, before any work
    publish(list(counts))
    for root, sizes in counts.items():
        print(f"prepared {root}: " + ", ".join(f"{name} {size} samples" for name, size in sizes.items()))
    print("next: " + next_command(args.dataset, args.out, args.voc_out))


def _check(args) -> None:
    from omegaconf import OmegaConf

    from wilss.config import load_config
    from wilss.data.check import check_dataset
    from wilss.data.datasets import DATASETS

    cfg = load_config(args.overrides)
    OmegaConf.update(cfg, f"dataset.{DATASETS.get(cfg.dataset.name).root_option}", str(args.root))
    for line in check_dataset(cfg, args.steps):
        print(line)
    print(f"dataset {args.root} is usable ({cfg.dataset.name}, task {cfg.task.name}).")


@exit_on_user_error
def cli(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "prepare":
        _prepare(args)
    else:
        _check(args)


if __name__ == "__main__":
    cli()

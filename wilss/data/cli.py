"""`wilss data prepare voc|coco-voc ...` and `wilss data check ROOT [overrides]` (also `python -m wilss.data.cli`)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from wilss.errors import exit_on_user_error

EPILOG = """examples:
  wilss data prepare voc --archives ~/downloads --out data/voc
  wilss data prepare coco-voc --archives ~/downloads --out data/coco --voc-out data/voc
  wilss data check data/voc
  wilss data check data/coco dataset=coco-voc dataset.voc_root=data/voc
See docs/data.md."""


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
    prepare.add_argument("--no-verify", action="store_true", help="skip the archives' official MD5 check")
    prepare.add_argument("--workers", type=int, default=None, help="conversion threads (default: up to 8)")
    check = commands.add_parser("check", help="decode every image and mask once; list every problem")
    check.add_argument("root", type=Path, help="dataset root (dataset.root; dataset.coco_root for coco-voc)")
    check.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. dataset=coco-voc task=10-10")
    return parser


def _prepare(args) -> None:
    from wilss.data.prepare.coco import prepare_coco
    from wilss.data.prepare.voc import prepare_voc

    options = {"check_md5": not args.no_verify, "fetch": args.download, "workers": args.workers}
    if args.dataset == "voc":
        counts = {args.out: prepare_voc(args.archives, args.out, **options)}
    else:
        counts = {args.out: prepare_coco(args.archives, args.out, **options)}
        if args.voc_out:
            counts[args.voc_out] = prepare_voc(args.archives, args.voc_out, **options)
    for root, sizes in counts.items():
        print(f"prepared {root}: " + ", ".join(f"{name} {size} samples" for name, size in sizes.items()))
    print("next: wilss data check " + " ".join(str(root) for root in counts))


def _check(args) -> None:
    from omegaconf import OmegaConf

    from wilss.config import load_config
    from wilss.data.check import check_dataset
    from wilss.data.datasets import DATASETS

    cfg = load_config(args.overrides)
    OmegaConf.update(cfg, f"dataset.{DATASETS.get(cfg.dataset.name).root_option}", str(args.root))
    for line in check_dataset(cfg):
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

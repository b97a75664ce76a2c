"""`wilss COMMAND [args]` (or `python -m wilss COMMAND`): one console script for every entry point of the kit.

Each command is the `module:function` that `python -m <module>` also runs, imported only when chosen, so
`wilss --help` and the light commands never load torch.
"""

from __future__ import annotations

import importlib
import sys

from wilss import __version__

# command -> (module, entry function taking argv, one-line summary); the order is the order of `wilss --help`.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "chain": ("wilss.chain", "cli", "train every step of a task here, then print the paper's table"),
    "train": ("wilss.train", "cli", "train one step (torchrun for several GPUs)"),
    "submit": ("wilss.submit", "cli", "queue the chain on Slurm (cluster=slurm) or run it here (cluster=local)"),
    "eval": ("wilss.evaluate_checkpoint", "cli", "evaluate a checkpoint (the kit's or the original WILSON code's) on a task"),
    "predict": ("wilss.predict", "cli", "segment a folder or list of images with a checkpoint: mask PNGs and overlays"),
    "figure": ("wilss.qualitative", "cli", "the papers' qualitative figure of a chain: image, truth, each step, pseudo-label"),
    "status": ("wilss.status", "cli", "one line per step (of each point of a sweep): job, restarts, progress, metrics"),
    "report": ("wilss.report", "main", "the papers' tables and figures from run or sweep directories"),
    "doctor": ("wilss.doctor", "main", "check a run before it starts: environment, data, weights, disk, Slurm"),
    "scripts": ("wilss.scripts", "cli", "write the sbatch scripts (one per paper chain) into a folder, ready to edit"),
    "data": ("wilss.data.cli", "cli", "prepare a dataset from the official archives; check every file of one"),
    "web": ("wilss.web.__main__", "main", "Web-WILSS data preparation (captions, select-replay, ...)"),
    "bench": ("wilss.bench", "main", "time the fast path against the eager fp32 path, side by side"),
    "synthetic": ("wilss.synthetic.voc", "main", "draw the synthetic dataset in the VOC layout"),
    "synthetic-web": ("wilss.synthetic.web", "main", "draw synthetic web images for Web-WILSS"),
}

USAGE = "usage: wilss [--version] COMMAND [args]   (wilss COMMAND --help for its own options)\n\n" + "\n".join(
    f"  {name:<14} {summary}" for name, (_, _, summary) in COMMANDS.items()) + """

Try: wilss chain experiment=demo      (synthetic data, CPU, a few minutes)
On Slurm: wilss scripts DIR, then sbatch DIR/voc_15-5.sbatch dataset.root=...   (DIR/README.md: settings)
Overrides are Hydra's key=value (group=option chooses a config file, as in wilss/configs/ of the package)."""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if args[0] in ("-V", "--version"):
        print(f"wilss {__version__}")
        return 0
    if args[0] not in COMMANDS:
        print(f"wilss: unknown command '{args[0]}'\n\n{USAGE}", file=sys.stderr)
        return 2
    module, function, _ = COMMANDS[args[0]]
    sys.argv = [f"wilss {args[0]}", *args[1:]]  # argparse-based commands name themselves from argv[0]
    result = getattr(importlib.import_module(module), function)(args[1:])
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())

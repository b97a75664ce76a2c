"""Write the kit's sbatch scripts into a folder, ready to edit: `wilss scripts DIR` (default DIR: ./slurm).

The scripts are the files the package ships (wilss/slurm/, what the repository's slurm/ folder holds): one per
paper chain (voc_15-5.sbatch, voc_10-10.sbatch, coco_voc.sbatch), wilss.sbatch for any other task, demo.sbatch
(the demo chain on CPU nodes: a first check of a cluster), their shared body chain_step.sh, and a README.md
with their settings. Files already there with other contents are kept unless --force is given.
"""

from __future__ import annotations

import argparse
import sys
from importlib.resources import files
from pathlib import Path

from wilss.errors import WilssError, exit_on_user_error

PAPER_CHAINS = {
    "voc_15-5.sbatch": "dataset.root=/datasets/VOC2012",
    "voc_10-10.sbatch": "dataset.root=/datasets/VOC2012",
    "coco_voc.sbatch": "dataset.coco_root=/datasets/coco dataset.voc_root=/datasets/VOC2012",
}


def shipped_scripts() -> dict[str, bytes]:
    """Name -> contents of every file of the package's slurm/ folder."""
    folder = files("wilss") / "slurm"
    shipped = {entry.name: entry.read_bytes() for entry in folder.iterdir()
               if entry.is_file() and not entry.name.startswith(".")}
    if not {"chain_step.sh", "wilss.sbatch", "demo.sbatch", *PAPER_CHAINS} <= shipped.keys():
        raise WilssError(f"this installation of wilss lacks its sbatch scripts (found {sorted(shipped)} in "
                         f"{folder}); reinstall the package")
    return shipped


def write_scripts(directory: Path, force: bool = False) -> list[Path]:
    """Write the shipped scripts into `directory` (created); the .sbatch files executable. Returns the paths
    written or already identical; refuses, before writing anything, to replace a file with other contents."""
    shipped = shipped_scripts()
    different = [directory / name for name, content in shipped.items()
                 if (directory / name).exists() and (directory / name).read_bytes() != content]
    if different and not force:
        raise WilssError("these files exist with other contents (your edits?): "
                         + ", ".join(str(path) for path in different)
                         + "; keep them by choosing another folder, or replace them with --force")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in sorted(shipped.items()):
        path = directory / name
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
        path.chmod(0o755 if name.endswith(".sbatch") else 0o644)
        written.append(path)
    return written


def how_to_start(directory: Path) -> str:
    lines = [f"  sbatch {directory / name} {example}" for name, example in PAPER_CHAINS.items()]
    return "\n".join([
        f"First, to check the cluster: sbatch {directory / 'demo.sbatch'}  (CPU only, the recorded table at the end)",
        "Edit the #SBATCH lines for your cluster (partition, account, GPUs), then start a chain:",
        *lines,
        f"  sbatch {directory / 'wilss.sbatch'} task=10-2 overlap=true dataset.root=/datasets/VOC2012  # any task",
        f"Settings (BIND, OUTPUT_ROOT, CONTAINER, PYTHON) and what a timeout or preemption does: "
        f"{directory / 'README.md'}. Follow a chain with: wilss status RUN_DIR"])


@exit_on_user_error
def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wilss scripts", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n")[1])
    parser.add_argument("directory", nargs="?", default="slurm", type=Path,
                        help="folder to write the scripts into (created; default: ./slurm)")
    parser.add_argument("--force", action="store_true", help="replace files that exist with other contents")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    written = write_scripts(args.directory, force=args.force)
    print(f"wrote {len(written)} files to {args.directory}/: {', '.join(path.name for path in written)}")
    print(how_to_start(args.directory))
    return 0


if __name__ == "__main__":
    sys.exit(cli())

"""Check a real Pascal VOC copy against the index sizes of the original (docs/method.md, "Reference numbers").

    python scripts/verify_voc_index.py --root data/voc [--cache-dir DIR]

Scans the masks (once; the result is cached), recomputes every per-step training subset and compares it with
the sizes the original's shipped index files have: 8,437 / 9,568 / 2,145 for 15-5 (disjoint step 0, overlap
step 0, step 1) and 3,706 / 6,139 / 6,876 for 10-10. Exit status 1 on any difference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

from wilss.data.build import subset_size
from wilss.data.datasets.voc import VOC_PUBLISHED
from wilss.data.tasks import get_task
from wilss.errors import exit_on_user_error

# (task, step, overlap, images): VOC's published sizes; step 1 is the same for both settings, so once.
EXPECTED = [(task, step, overlap, images) for (task, overlap, step), images in VOC_PUBLISHED.subsets.items()
            if not (step == 1 and overlap)]


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="VOC folder with splits/, JPEGImages/, SegmentationClassAug/")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "wilss", help="presence cache")
    args = parser.parse_args()
    data = SimpleNamespace(name="voc", root=str(args.root), cache_dir=str(args.cache_dir))
    failures = 0
    for task_name, step, overlap, expected in EXPECTED:
        found = subset_size(data, get_task("voc", task_name, step), overlap)
        ok = found == expected
        failures += not ok
        print(f"{task_name:>5} step {step} {'overlap ' if overlap else 'disjoint'}: {found:>5} images "
              f"(original {expected}) {'ok' if ok else 'MISMATCH'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

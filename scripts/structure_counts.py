"""Measure the structure figures of the run and launch zone (docs/design.md, "Resolved once"): how often the
derived facts of a step are recomputed from the raw config, upward imports and import circles, launch-zone lines.

    python scripts/structure_counts.py            # on this tree
Prints one `name: value` line each, so two trees can be compared with diff.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from test_architecture import LAYERS, PACKAGE, circles, import_graph, layer_of  # noqa: E402

DERIVED = ("task_of", "step_layout", "recipe_of", "get_task", "load_config", "epochs_of", "optim_phase", "run_dir")
LAUNCH_ZONE = ("wilss/launch", "wilss/submit.py", "wilss/status.py", "wilss/preflight", "wilss/slurm")


def call_sites(name: str) -> int:
    pattern = re.compile(rf"(?<![\w.]){name}\(|\.{name}\(")
    return sum(len(pattern.findall(line)) for path in PACKAGE.rglob("*.py")
               for line in path.read_text().splitlines() if not line.lstrip().startswith("def "))


def main() -> None:
    for name in DERIVED:
        print(f"call sites of {name}: {call_sites(name)}")
    graph = import_graph()
    upward = [(source, target) for source, targets in graph.items() for target in targets
              if layer_of(source) is not None and layer_of(target) is not None and layer_of(target) > layer_of(source)]
    print(f"upward imports: {len(upward)}" + "".join(f"\n  {s} -> {t}" for s, t in sorted(upward)))
    found = circles(graph)
    print(f"import circles: {len(found)}" + "".join(f"\n  {' <-> '.join(c)}" for c in found))
    lines = sum(len(path.read_text().splitlines()) for place in LAUNCH_ZONE for path in
                ([ROOT / place] if place.endswith(".py") else sorted((ROOT / place).rglob("*.*")))
                if path.suffix in (".py", ".sh", ".sbatch"))
    print(f"launch-zone lines (py, sh, sbatch): {lines}")
    print(f"layers: {len(LAYERS)}")


if __name__ == "__main__":
    main()

"""Imports run one way: a module may import from its own layer and the layers below it, never from a higher one.

The layers, lowest first (docs/design.md, "Layers"). Every module of `wilss/` must belong to one, so a new
module is placed deliberately: add its prefix to LAYERS.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "wilss"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("wilss", "wilss.errors", "wilss.atomic", "wilss.core", "wilss.cli", "wilss.layout", "wilss.registry")),
    ("data", ("wilss.data", "wilss.synthetic")),
    ("models", ("wilss.models",)),
    ("training", ("wilss.engine", "wilss.methods", "wilss.metrics", "wilss.checkpoint", "wilss.distributed",
                  "wilss.visualize")),
    ("web data preparation", ("wilss.web",)),
    ("run", ("wilss.config", "wilss.train", "wilss.chain", "wilss.sweep", "wilss.report", "wilss.expected",
             "wilss.inference", "wilss.evaluate_checkpoint", "wilss.predict", "wilss.qualitative")),
    ("launch", ("wilss.launch", "wilss.submit", "wilss.status", "wilss.preflight")),
    ("tools", ("wilss.__main__", "wilss.bench", "wilss.doctor", "wilss.data.cli", "wilss.scripts")),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    """Index of the layer whose longest prefix matches `module` (wilss.data.tasks -> data)."""
    best, best_length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or (prefix != "wilss" and module.startswith(prefix + "."))
            if matches and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    return best


def imported_modules(path: Path) -> set[str]:
    """Every `wilss` module `path` imports, at the top or inside a function (a deferred import is still one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "wilss"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "wilss":
            found.add(node.module)
            # `from wilss.data import tasks` imports the module wilss.data.tasks
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if (PACKAGE.parent / f"{node.module}.{alias.name}".replace(".", "/")).with_suffix(".py").is_file()}
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = [module_name(path) for path in SOURCES if layer_of(module_name(path)) is None]
    assert not unplaced, f"modules in no layer of tests/test_architecture.py LAYERS: {unplaced}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: module_name(path))
def test_imports_point_down(path: Path) -> None:
    own = layer_of(module_name(path))
    if own is None:
        pytest.skip("not in a layer (reported by test_every_module_belongs_to_a_layer)")
    upward = sorted(f"{target} ({LAYERS[layer][0]})" for target in imported_modules(path)
                    if (layer := layer_of(target)) is not None and layer > own)
    assert not upward, f"{module_name(path)} ({LAYERS[own][0]}) imports from higher layers: {upward}"


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The walker finds deferred imports and `from package import module` forms."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from wilss import train\n    import wilss.launch.slurm\n")
    assert {"wilss.train", "wilss.launch.slurm"} <= imported_modules(source)
    assert layer_of("wilss.train") > layer_of("wilss.data.tasks")


def test_submitting_imports_neither_torch_nor_the_training_code() -> None:
    """`wilss submit` runs on login nodes: its help and the modules it plans and submits with load no torch and no
    model (the job imports the training code when it runs)."""
    probe = ("import sys\nfrom wilss.__main__ import main\nmain(['submit', '--help']); main(['status', '--help'])\n"
             "import wilss.launch.submitter, wilss.launch.sbatch_chain\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith(('wilss.models', "
             "'wilss.methods', 'wilss.engine.trainer', 'wilss.train'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout

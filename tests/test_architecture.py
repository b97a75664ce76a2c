"""Imports run one way: a module may import from its own layer and the layers below it, never from a higher one,
and no modules import each other in a circle, even inside one layer.

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
    ("data and models", ("wilss.data", "wilss.synthetic", "wilss.models", "wilss.model_spec")),
    ("methods, engine and web", ("wilss.methods", "wilss.engine", "wilss.web", "wilss.metrics", "wilss.checkpoint",
                                 "wilss.distributed", "wilss.visualize")),
    ("run", ("wilss.config", "wilss.schema", "wilss.spec", "wilss.train", "wilss.chain", "wilss.sweep",
             "wilss.report", "wilss.expected", "wilss.inference", "wilss.evaluate_checkpoint", "wilss.predict",
             "wilss.qualitative")),
    ("preflight", ("wilss.preflight",)),
    ("launch", ("wilss.launch",)),
    ("commands", ("wilss.__main__", "wilss.bench", "wilss.doctor", "wilss.data.cli", "wilss.scripts", "wilss.submit",
                  "wilss.status")),
]

def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    """Index of the layer whose longest prefix matches `module` (wilss.data.tasks -> data and models)."""
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


def import_graph() -> dict[str, set[str]]:
    """Each module of `wilss/` -> the other modules of `wilss/` it imports."""
    modules = {module_name(path): path for path in SOURCES}
    return {name: {target for target in imported_modules(path) if target in modules and target != name}
            for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def describe(found: list[list[str]]) -> str:
    return "; ".join(" <-> ".join(circle) for circle in found)


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = [module_name(path) for path in SOURCES if layer_of(module_name(path)) is None]
    assert not unplaced, f"modules in no layer of tests/test_architecture.py LAYERS: {unplaced}"


@pytest.mark.parametrize("path", SOURCES, ids=module_name)
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


def test_no_import_circle() -> None:
    found = circles(import_graph())
    assert not found, f"modules that import each other in a circle: {describe(found)}"


def test_the_check_sees_a_planted_circle() -> None:
    """A back-edge planted into the real graph (the errors module importing the config, which imports it) makes a
    circle that the check names."""
    graph = import_graph()
    assert "wilss.errors" in graph["wilss.config"]
    graph["wilss.errors"].add("wilss.config")
    assert any({"wilss.config", "wilss.errors"} <= set(circle) for circle in circles(graph))
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


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

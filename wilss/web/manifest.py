"""The manifest of a data-preparation command: what it read, with which parameters, and what it wrote.

Deterministic by construction (same inputs → same bytes): paths relative to a root, sorted keys and lists,
sha256 of every file, no timestamps or host names. Written atomically as `<out dir>/manifest.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

from wilss.atomic import atomic_write_bytes
from wilss.core import sha256_of

FILENAME = "manifest.json"


def file_records(paths, root: Path) -> list[dict]:
    """[{path relative to root, sha256}] sorted by path."""
    root = Path(root)
    return sorted(({"path": Path(p).resolve().relative_to(root.resolve()).as_posix(), "sha256": sha256_of(Path(p))}
                   for p in paths), key=lambda record: record["path"])


def write_manifest(out_dir: Path, command: str, parameters: dict, inputs: dict, outputs: dict) -> Path:
    """`inputs`/`outputs`: JSON-ready values (e.g. `file_records(...)` lists, counts, metrics)."""
    manifest = {"command": command, "parameters": parameters, "inputs": inputs, "outputs": outputs}
    payload = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    path = Path(out_dir) / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, lambda handle: handle.write(payload))
    return path


def read_manifest(out_dir: Path) -> dict:
    path = Path(out_dir) / FILENAME
    return json.loads(path.read_text()) if path.is_file() else {}

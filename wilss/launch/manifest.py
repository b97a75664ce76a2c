"""The manifest of a step: `<step dir>/manifest.json`, the step's small record for people and tools.

Written by the submitter (job ids) and by the step's rank 0 (state, restarts, the final checkpoint's sha256),
always atomically, so `python -m wilss.status` and a second `python -m wilss.submit` can trust it.
States: submitted → running → finished | requeued | interrupted | failed | cancelled (or another way Slurm
ended the job, in its words: node_fail, ...).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from wilss.atomic import atomic_write_bytes

FILENAME = "manifest.json"


def read_manifest(step_dir: Path) -> dict:
    path = Path(step_dir) / FILENAME
    return json.loads(path.read_text()) if path.is_file() else {}


def update_manifest(step_dir: Path, **fields) -> dict:
    """Merge `fields` into the manifest; a new `job_id` is also appended to the `job_ids` history."""
    manifest = read_manifest(step_dir)
    job_id = fields.get("job_id")
    if job_id and job_id not in manifest.get("job_ids", []):
        fields["job_ids"] = [*manifest.get("job_ids", []), job_id]
    manifest.update(fields, updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    payload = json.dumps(manifest, indent=2, sort_keys=True).encode()
    atomic_write_bytes(Path(step_dir) / FILENAME, lambda handle: handle.write(payload))
    return manifest


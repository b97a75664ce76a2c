"""`wilss submit` on a login node: the command a user types, on the real local cluster (scripts/local_slurm.sh)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import REPO
from test_slurm import TINY, job_ids_of, shared_data, slurm_cluster  # noqa: F401 - fixtures of the real cluster


@pytest.mark.slurm
def test_submit_with_the_preflight_on_never_imports_torch(slurm_cluster, shared_data, tmp_path):  # noqa: F811
    # Python's import log of the whole process (every module, however deep or deferred), on stderr.
    typed = subprocess.run([sys.executable, "-X", "importtime", "-m", "wilss", "submit", "task=15-5", *TINY,
                            *shared_data, "launch.preflight=true", f"run_dir={tmp_path / 'run'}"],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
    jobs = job_ids_of(typed.stdout)
    subprocess.run(["scancel", *jobs], check=False)  # the jobs themselves are not this test's subject
    assert typed.returncode == 0 and len(jobs) == 2, typed.stdout + typed.stderr[-3000:]
    imported = re.findall(r"^import time:.*\|\s*(\S+)$", typed.stderr, flags=re.M)
    assert "wilss.preflight.dataset" in imported and "submitit" in imported  # the log is complete
    assert not [name for name in imported if name.split(".")[0] in ("torch", "torchvision")]

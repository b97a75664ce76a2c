"""A step's signal handling as a scheduler job sees it: signals that arrive while the process shuts down."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from conftest import REPO

# Installs the step's handlers, has a child signal this process without pause, then ends the step as run_step
# does (or not) and exits: the timeout signal keeps arriving through interpreter shutdown.
PROGRAM = """
import os, subprocess, sys, time
from wilss.launch import step
stop = step.install_stop_signals()
subprocess.Popen(["sh", "-c", f"while kill -{sys.argv[1]} {os.getpid()} 2>/dev/null; do :; done"])
time.sleep(0.5)
assert stop.requested
if sys.argv[2] == "finished":
    step.ignore_timeout_signals()
"""


def run_program(signal_name: str, ending: str) -> int:
    return subprocess.run([sys.executable, "-c", PROGRAM, signal_name, ending], cwd=REPO, timeout=60).returncode


@pytest.mark.parametrize("signal_name", ["USR1", "USR2"])
def test_a_timeout_signal_during_shutdown_does_not_kill_a_finished_step(signal_name):
    # Without the step's ending, Python's shutdown restores the default action and the signal kills the
    # process (what turned a finished Slurm job into FAILED); with it, the process exits cleanly.
    assert run_program(signal_name, "unguarded") == -getattr(signal, f"SIG{signal_name}")
    assert run_program(signal_name, "finished") == 0

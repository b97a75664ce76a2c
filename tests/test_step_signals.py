"""A step's signal handling as a scheduler job sees it: signals that arrive while the process shuts down."""

from __future__ import annotations

import os
import signal
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from test_train_e2e import free_port
from wilss.launch.signals import HOLD_STOP_SIGNALS

# Installs the step's handlers, has a child signal this process without pause, then ends the step as run_step
# does (or not) and exits: the timeout signal keeps arriving through interpreter shutdown.
PROGRAM = """
import os, subprocess, sys, time
from wilss.launch import signals
stop = signals.install_stop_signals()
subprocess.Popen(["sh", "-c", f"while kill -{sys.argv[1]} {os.getpid()} 2>/dev/null; do :; done"])
time.sleep(0.5)
assert stop.requested
if sys.argv[2] == "finished":
    signals.ignore_timeout_signals()
"""


def run_program(signal_name: str, ending: str) -> int:
    return subprocess.run([sys.executable, "-c", PROGRAM, signal_name, ending], cwd=REPO, timeout=60).returncode


@pytest.mark.parametrize("signal_name", ["USR1", "USR2"])
def test_a_timeout_signal_during_shutdown_does_not_kill_a_finished_step(signal_name):
    # Without the step's ending, Python's shutdown restores the default action and the signal kills the
    # process (what turned a finished Slurm job into FAILED); with it, the process exits cleanly.
    assert run_program(signal_name, "unguarded") == -getattr(signal, f"SIG{signal_name}")
    assert run_program(signal_name, "finished") == 0


def test_a_terminate_for_every_process_of_the_step_stops_training_with_workers_instead_of_killing_it(tmp_path):
    # Slurm signals every process of a step, data-loading workers included (here: the process group). The
    # workers ignore it; the main process saves and exits with the 'interrupted' status.
    from wilss.synthetic.voc import ensure_synthetic

    ensure_synthetic(tmp_path / "data", n_train=40, n_val=4, size=32, seed=0)
    overrides = ["dataset=synthetic", f"dataset.root={tmp_path / 'data'}", "dataset.generate.train=40",
                 "dataset.generate.val=4", "dataset.generate.size=32", "dataset.crop_size=32",
                 "dataset.crop_size_val=32", f"dataset.cache_dir={tmp_path / 'cache'}", "model=resnet18",
                 "train.device=cpu", "train.num_workers=2", "train.batch_size=2", "train.log_interval=1",
                 "train.epochs_base=50", f"run_dir={tmp_path / 'run'}", "step=0"]
    step = subprocess.Popen([sys.executable, "-m", "wilss.launch.step", *overrides], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    for line in step.stdout:
        if "iter 2/" in line:
            break
    os.killpg(step.pid, signal.SIGTERM)
    output = step.communicate(timeout=120)[0]
    assert step.returncode == 75, output[-3000:]
    assert "stop requested (terminated): saved the checkpoint" in output and "killed by signal" not in output
    assert (tmp_path / "run" / "step0" / "checkpoints" / "last.pt").is_file()


def blocks_and_has_no_handler_for_usr1(pid: int) -> bool:
    """The process has SIGUSR1 blocked and no handler for it yet (/proc/PID/status masks)."""
    status = Path(f"/proc/{pid}/status").read_text()
    blocked, caught = (int(re.search(rf"{field}:\s*([0-9a-f]+)", status).group(1), 16) for field in ("SigBlk", "SigCgt"))
    bit = 1 << (signal.SIGUSR1 - 1)
    return bool(blocked & bit) and not caught & bit


def test_a_stop_signal_at_the_first_instant_of_a_rank_waits_for_its_handlers_instead_of_killing_it(tmp_path):
    # The launchers start a rank as HOLD_STOP_SIGNALS + python: a timeout signal sent as soon as the
    # interpreter exists, long before the step's handlers, is a stop request (exit 75), not a death.
    from wilss.synthetic.voc import ensure_synthetic

    ensure_synthetic(tmp_path / "data", n_train=8, n_val=4, size=32, seed=0)
    overrides = ["dataset=synthetic", f"dataset.root={tmp_path / 'data'}", "dataset.generate.train=8",
                 "dataset.generate.val=4", "dataset.generate.size=32", "dataset.crop_size=32",
                 "dataset.crop_size_val=32", f"dataset.cache_dir={tmp_path / 'cache'}", "model=resnet18",
                 "train.device=cpu", "train.num_workers=0", "train.batch_size=2", f"run_dir={tmp_path / 'run'}", "step=0"]
    command = [sys.executable, "-m", "wilss.launch.step", *overrides]
    unguarded = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.kill(unguarded.pid, signal.SIGUSR1)  # before Python's first line: the default action ends it
    assert unguarded.wait(timeout=60) == -signal.SIGUSR1

    held = subprocess.Popen([*HOLD_STOP_SIGNALS, *command], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 10  # until env blocked the signals (Python has then not started yet, or just)
    while not blocks_and_has_no_handler_for_usr1(held.pid):
        assert time.time() < deadline, "env never blocked SIGUSR1"
    os.kill(held.pid, signal.SIGUSR1)
    output = held.communicate(timeout=120)[0]
    assert held.returncode == 75, output[-3000:]
    assert "stop requested (timeout) during the start-up" in output, output[-3000:]


# A process whose data-loading workers ignore TERM ends with an exception that keeps its loader alive (as a
# rank does when its peer dies): Python's exit terminates the workers with TERM and waits for them.
HANGING_EXIT = """
import torch
from wilss.distributed import DistInfo
from wilss.engine.evaluate import eval_loader
class Items(list):  # addressed by (index, augmentation seed), as the kit's datasets
    def __getitem__(self, item):
        return super().__getitem__(item[0])
loader = eval_loader(Items(range(100)), DistInfo(0, 1, 0, torch.device("cpu")), batch_size=1, num_workers=2)
batches = iter(loader)
next(batches)
raise RuntimeError("Connection reset by peer")
"""


def test_a_step_that_fails_with_live_workers_still_exits():
    failed = subprocess.run([sys.executable, "-c", HANGING_EXIT], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert failed.returncode == 1 and "Connection reset by peer" in failed.stderr
    assert "killed by signal" not in failed.stderr  # ended quietly, not reported as a crash


# Two ranks under torchrun; only rank 1 got the scheduler's signal when they reach the agreement.
AGREEMENT = """
from wilss import distributed
from wilss.engine.interrupt import StopRequest
info = distributed.init_distributed("cpu")
stop = StopRequest()
if info.rank == 1:
    stop.request("terminated")
print(f"rank {info.rank}: {stop.agreed(distributed.max_over_ranks)} {stop.reason}", flush=True)
distributed.shutdown()
"""


def test_a_rank_whose_signal_is_still_on_its_way_stops_with_the_reason_of_the_rank_that_has_it(tmp_path):
    """Rank 0 logs the stop and reports it to the scheduler: it must name the real reason, not 'unknown'."""
    program = tmp_path / "agree.py"
    program.write_text(AGREEMENT)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                             "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(program)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank 0: True terminated" in result.stdout and "rank 1: True terminated" in result.stdout, result.stdout


# Evaluations under a storm of TERM to the whole process group: each evaluation starts new workers, and a
# signal that comes while they start (before they ignore it) must not kill them.
WORKER_STARTS = """
import os, signal, threading, time
from wilss.launch import signals
stop = signals.install_stop_signals()
import torch
from wilss.distributed import DistInfo
from wilss.engine.evaluate import eval_loader

class Items(list):  # addressed by (index, augmentation seed), as the kit's datasets
    def __getitem__(self, item):
        return super().__getitem__(item[0])

def storm():
    while True:
        os.killpg(0, signal.SIGTERM)
        time.sleep(0.0005)

threading.Thread(target=storm, daemon=True).start()
for _ in range(5):
    loader = eval_loader(Items(range(40)), DistInfo(0, 1, 0, torch.device("cpu")), batch_size=4, num_workers=2)
    assert sum(len(batch) for batch in loader) == 40
print("workers survived", stop.reason, flush=True)
"""


def test_a_stop_signal_while_evaluation_workers_start_reaches_only_the_main_process():
    result = subprocess.run([sys.executable, "-c", WORKER_STARTS], cwd=REPO, capture_output=True, text=True,
                            timeout=120, start_new_session=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "workers survived terminated" in result.stdout

"""Faults a shared cluster sends, injected into real chains on the local Slurm cluster (scripts/local_slurm.sh:
2 nodes, one rank on each, DDP over gloo, data-loading workers in every rank as users run it). One trial keeps
the users' default precision, workers and kernels (SETTINGS).

Each trial runs `wilss submit` (the chain's two steps), injects its faults into step 0 at iterations drawn from
a seeded generator, and checks what the kit promises (docs/reliability.md): the chain finishes with weights
bitwise equal to an uninterrupted run (or, for a cancel, ends cancelled and `wilss status` says so); no torn or
temporary checkpoint is left; at most one iteration is lost to a signal, at most one checkpoint interval to a
kill. CI runs the short seeded subset; `WILSS_FAULT_MATRIX=1` runs every trial (about 30 minutes here),
`WILSS_FAULT_SEED` draws other iterations (default 0).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO, run_cli
from test_slurm import job_ids_of, manifest, slurm_cluster, wait_for_jobs  # noqa: F401 - slurm_cluster: fixture
from wilss.synthetic.voc import ensure_synthetic

FULL_MATRIX = os.environ.get("WILSS_FAULT_MATRIX") == "1"
SEED = int(os.environ.get("WILSS_FAULT_SEED", "0"))
CHECKPOINT_INTERVAL = 10
# 13 iterations per epoch, 52 in step 0; validation after epochs 2 and 4; a checkpoint every 10 iterations.
CHAIN = ["dataset=synthetic", "dataset.generate.train=120", "dataset.generate.val=24", "dataset.generate.size=64",
         "dataset.crop_size=64", "dataset.crop_size_val=64", "model=resnet18", "task=15-5",
         "train.device=cpu", "train.log_interval=1", "train.batch_size=4", "train.epochs_base=4",
         "train.epochs_incremental=1", "train.val_interval=2", "eval.batch_size=2",
         f"train.checkpoint_interval={CHECKPOINT_INTERVAL}"]
# Most trials: two workers per rank, fp32, NCHW and deterministic kernels. The "defaults" trial keeps what users
# run: four workers per rank, bf16 autocast on the CPU, channels-last, no deterministic kernels.
SETTINGS = {"fixed": ["train.num_workers=2", "train.precision=fp32", "train.channels_last=false",
                      "train.deterministic=true"],
            "defaults": []}
JOBS = ["launch.nodes=2", "launch.gpus_per_node=0", "launch.cpus_per_task=1", "launch.mem_gb=2", "name=faults"]
PROGRESS = re.compile(r"epoch (\d+)/\d+ iter (\d+)/(\d+) \|")


def opt_in(*values):
    """A trial of the full matrix only."""
    return pytest.param(*values, marks=pytest.mark.skipif(not FULL_MATRIX, reason="set WILSS_FAULT_MATRIX=1"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("fault-data")
    ensure_synthetic(root / "synthetic", n_train=120, n_val=24, size=64, seed=0)
    return [f"dataset.root={root / 'synthetic'}", f"dataset.cache_dir={root / 'cache'}"]


class References:
    """The same chain, uninterrupted, for each settings of SETTINGS: two processes under torchrun on this machine.
    A trial starts its settings' run when it starts, so that the two overlap; `get` waits for it."""

    def __init__(self, tmp_path_factory, data: list[str]) -> None:
        self.tmp_path_factory, self.data = tmp_path_factory, data
        self.started: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, settings: str) -> None:
        if settings in self.started:
            return
        run = self.tmp_path_factory.mktemp(f"fault-reference-{settings}") / "run"
        port = 29900 + (os.getpid() + len(self.started)) % 90
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
                   f"--master_port={port}", "-m", "wilss.chain", *CHAIN, *SETTINGS[settings], *self.data,
                   f"run_dir={run}"]
        self.started[settings] = (subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.PIPE, text=True,
                                                   env=dict(os.environ, OMP_NUM_THREADS="1")), run)

    def get(self, settings: str) -> Path:
        self.start(settings)
        return finished(*self.started[settings])


@pytest.fixture(scope="module")
def references(tmp_path_factory, data):
    started = References(tmp_path_factory, data)
    yield started
    for process, _ in started.started.values():
        process.kill()


def finished(process: subprocess.Popen, run: Path) -> Path:
    _, stderr = process.communicate(timeout=1800)
    assert process.returncode == 0, stderr[-3000:]
    return run


class TrainLog:
    """Step 0's train.log, read forward: each wait starts where the previous one matched."""

    def __init__(self, path: Path) -> None:
        self.path, self.seen = path, 0

    def wait(self, pattern: str, timeout: float = 900) -> re.Match:
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.path.read_text() if self.path.is_file() else ""
            found = re.compile(pattern).search(text, self.seen)
            if found:
                self.seen = found.end()
                return found
            time.sleep(0.05)
        raise AssertionError(f"'{pattern}' never appeared in {self.path} after offset {self.seen}")


def cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def environ(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def parent(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return ""


def a_task_of_slurm(pid: str) -> bool:
    """Whether slurmstepd started the process: a rank (srun's task), not srun itself (a child of the batch script)
    nor a data-loading worker (a child of its rank, or of init once its rank is gone: a worker forked while its
    rank stops would otherwise pass for a rank of the next run)."""
    return cmdline(parent(pid)).startswith("slurmstepd")


def rank_processes(run: Path) -> dict[int, int]:
    """{rank: pid} of the step's processes on this machine (not their data-loading workers, which are their
    children), found by the run directory in their command line."""
    ranks = {}
    for entry in Path("/proc").iterdir():
        line = cmdline(entry.name) if entry.name.isdigit() else ""
        if line and "python" in Path(line.split()[0]).name and str(run) in line and a_task_of_slurm(entry.name):
            procid = [item for item in environ(entry.name).split(b"\0") if item.startswith(b"SLURM_PROCID=")]
            if procid:
                ranks[int(procid[0].split(b"=")[1])] = int(entry.name)
    return ranks


def handles_usr1(pid: int) -> bool:
    """Whether the process has its handler for SIGUSR1 (the caught-signals mask of /proc/PID/status)."""
    try:
        caught = re.search(r"SigCgt:\s*([0-9a-f]+)", Path(f"/proc/{pid}/status").read_text()).group(1)
    except (OSError, AttributeError):
        return False
    return bool(int(caught, 16) >> (signal.SIGUSR1 - 1) & 1)


def wait_until(condition, what: str, timeout: float = 600, poll: float = 0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


class Trial:
    """One chain under faults: submits it, injects, resubmits after a kill, and keeps what the checks need."""

    def __init__(self, run: Path, data: list[str], rng: random.Random, *extra: str, settings: str = "fixed") -> None:
        self.run, self.data, self.rng, self.settings = run, data, rng, SETTINGS[settings]
        self.log = TrainLog(run / "step0" / "train.log")
        self.seen_ranks: set[int] = set()  # processes of the runs that were interrupted
        self.before_handlers: list[bool] = []  # per signal at 0 s: whether a rank had no handler yet
        self.jobs = self.submit(*extra)

    def submit(self, *extra: str) -> list[str]:
        result = run_cli(["wilss.submit", *CHAIN, *self.settings, *JOBS, *self.data, f"run_dir={self.run}", *extra],
                         cwd=REPO, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        return job_ids_of(result.stdout)

    def at_random_iteration(self) -> None:
        """Wait for 2 to 8 more iterations of the current run of step 0."""
        for _ in range(self.rng.randint(2, 8)):
            self.log.wait(PROGRESS.pattern)

    def signal(self, how: str) -> None:
        commands = {"TERM": ["scancel", "--signal=TERM"], "USR1": ["scancel", "--signal=USR1"],
                    "requeue": ["scontrol", "requeue"]}
        subprocess.run([*commands[how], self.jobs[0]], check=True)

    def at_start(self) -> dict[int, int]:
        """Until every rank of a (re)started job has its handlers, which come before its heavy imports: the
        signal then reaches the ranks while they import torch and build the data, the model, the workers."""
        def new_ranks() -> dict[int, int]:
            found = rank_processes(self.run)
            return found if len(found) == 2 and not set(found.values()) & self.seen_ranks else {}

        ranks = wait_until(new_ranks, "the ranks of a new run of the step", timeout=1800, poll=0.01)
        wait_until(lambda: all(handles_usr1(pid) for pid in ranks.values()), "the ranks' handlers", poll=0.005)
        self.seen_ranks |= set(ranks.values())
        return ranks

    def at_zero(self) -> bool:
        """As soon as a rank of a restarted job exists (as `env` holding the signals, or already as Python; a
        restart, since the first run of a job starts while `wilss submit` still runs, before a trial can look):
        whether it still had no handler when the signal was sent (the trial's figure for docs/reliability.md).
        Only processes that did not exist when the wait began are looked at (not the interrupted run's, whose
        data-loading workers may outlive their rank for a moment), so a poll takes about a millisecond."""
        checked: set[str] = set(os.listdir("/proc"))
        deadline = time.time() + 1800
        while time.time() < deadline:
            for pid in set(os.listdir("/proc")) - checked:
                if not pid.isdigit():
                    continue
                line = cmdline(pid)
                if not line.startswith("slurmstepd"):  # a task not yet exec'd is looked at again
                    checked.add(pid)
                program = Path(line.split()[0]).name if line else ""
                if (program == "env" or "python" in program) and str(self.run) in line \
                        and int(pid) not in self.seen_ranks and b"SLURM_PROCID=" in environ(pid) \
                        and a_task_of_slurm(pid):
                    self.seen_ranks.add(int(pid))
                    return not handles_usr1(int(pid))
        raise AssertionError("no rank of a new run of the step started")

    def during_validation(self) -> None:
        self.log.wait(r"validating after epoch \d+")

    def during_save(self) -> Path:
        folder = self.run / "step0" / "checkpoints"
        return wait_until(lambda: next(folder.glob(".last.pt.tmp*"), None), "a save of last.pt", poll=0.002)

    def kill_rank(self, rank: int) -> None:
        os.kill(rank_processes(self.run)[rank], signal.SIGKILL)

    def stopped(self) -> None:
        """The step honoured the signal: it saved and left (the requeued job starts it again)."""
        self.seen_ranks |= set(rank_processes(self.run).values())
        self.log.wait(r"stop requested \(\w+\): saved the checkpoint")

    def resubmit_after_kill(self) -> None:
        """A killed rank fails the job (srun ends the others) and Slurm cancels step 1: the user resubmits."""
        assert wait_for_jobs(self.jobs, timeout=600)[self.jobs[0]] == "FAILED"
        self.jobs = self.submit("launch.resubmit_failed=true")

    def node_down(self) -> None:
        """n2 fails under the running job (only while nothing else runs there: the cluster is shared)."""
        others = subprocess.run(["squeue", "-h", "-w", "n2", "-o", "%i"], capture_output=True, text=True).stdout
        if set(others.split()) - set(self.jobs):
            pytest.skip("another job runs on n2; setting it DOWN would kill it")
        subprocess.run(["scontrol", "update", "NodeName=n2", "State=DOWN", "Reason=wilss-fault-test"], check=True)
        time.sleep(5)
        # Slurm 22.05 with ReturnToService=2 may return the node itself once its slurmd registers again (after
        # the job's processes are gone); RESUME is then refused as an invalid state change.
        if node_state("n2").startswith("down"):
            subprocess.run(["scontrol", "update", "NodeName=n2", "State=RESUME"], check=True)
        wait_until(lambda: not node_state("n2").startswith("down"), "n2 back in service", timeout=60, poll=0.5)


def node_state(node: str) -> str:
    return subprocess.run(["sinfo", "-h", "-N", "-n", node, "-o", "%T"], capture_output=True, text=True).stdout.strip()


def inject(trial: Trial, fault: str) -> None:
    """One fault into the running step 0; returns once it took effect."""
    if fault in ("TERM", "USR1", "requeue"):
        trial.at_random_iteration()
        trial.signal(fault)
        trial.stopped()
    elif fault.endswith("-in-validation"):  # TERM, USR1 or requeue while the step validates
        trial.during_validation()
        trial.signal(fault.removesuffix("-in-validation"))
        trial.log.wait(r"validation after epoch \d+ stopped \(\w+\)")
        trial.stopped()
    elif fault == "USR1-at-start":
        trial.at_start()
        trial.signal("USR1")
        trial.log.wait(r"stop requested \(timeout\) during the start-up")
    elif fault == "USR1-at-0s":  # the ranks' Python started with the signals held (wilss.launch.step)
        before_handlers = trial.at_zero()
        trial.signal("USR1")
        trial.log.wait(r"stop requested \(timeout\) during the start-up")
        trial.before_handlers.append(before_handlers)
    elif fault == "requeue-at-start":  # Slurm kills the ranks after KillWait, maybe before they could stop
        trial.at_start()
        trial.signal("requeue")
    elif fault == "kill-rank":
        trial.at_random_iteration()
        trial.kill_rank(1)
        trial.resubmit_after_kill()
    elif fault == "kill-during-save":
        trial.during_save()
        trial.kill_rank(0)
        trial.resubmit_after_kill()
    elif fault == "node-down":
        trial.at_random_iteration()
        trial.node_down()
    else:
        raise ValueError(fault)


def iterations_run(log: str) -> int:
    return len(PROGRESS.findall(log))


def assert_same_weights(run: Path, reference: Path, step: int) -> None:
    ours, theirs = (torch.load(r / f"step{step}" / "checkpoints" / "final.pt", weights_only=True)["modules"]["model"]
                    for r in (run, reference))
    assert ours.keys() == theirs.keys()
    for key, value in ours.items():
        assert torch.equal(value, theirs[key]), f"step {step}: {key}"


def assert_no_leftovers(run: Path) -> None:
    """Every checkpoint loads; no temporary file of a save is left."""
    for checkpoint in run.glob("step*/checkpoints/*.pt"):
        torch.load(checkpoint, weights_only=True)
    assert not list(run.glob("step*/checkpoints/.*.tmp*"))


# (faults in order, iterations step 0 may lose beyond one per signal, settings). CI runs the first row, with the
# users' defaults (about 3 minutes).
TRIALS = [
    (["USR1-at-start", "USR1-at-0s", "TERM", "requeue-in-validation", "kill-during-save"], CHECKPOINT_INTERVAL,
     "defaults"),
    opt_in(["TERM", "USR1-at-0s", "USR1-at-0s", "TERM", "USR1-at-0s"], 0, "fixed"),
    opt_in(["USR1-at-start", "TERM-in-validation", "TERM"], 0, "fixed"),
    opt_in(["requeue", "kill-during-save"], CHECKPOINT_INTERVAL, "fixed"),
    opt_in(["requeue-at-start", "USR1", "USR1-in-validation", "USR1-at-start", "requeue"], 0, "fixed"),
    opt_in(["TERM", "requeue-in-validation", "kill-rank"], CHECKPOINT_INTERVAL, "fixed"),
    opt_in(["node-down"], CHECKPOINT_INTERVAL, "fixed"),
]


@pytest.mark.slurm
@pytest.mark.parametrize(("faults", "may_lose", "settings"), TRIALS, ids=lambda value: "+".join(value) if isinstance(
    value, list) else str(value))
def test_a_chain_under_faults_finishes_bitwise_equal_losing_at_most_what_is_promised(
        slurm_cluster, data, references, tmp_path, faults, may_lose, settings):
    references.start(settings)
    rng = random.Random(f"{SEED}-{'+'.join(faults)}")
    start = time.time()
    trial = Trial(tmp_path / "run", data, rng, settings=settings)
    for fault in faults:
        inject(trial, fault)
    states = wait_for_jobs(trial.jobs, timeout=1500)
    assert set(states.values()) == {"COMPLETED"}, states
    log = trial.log.path.read_text()
    per_epoch, epochs = map(int, re.search(r"(\d+) iterations per epoch, (\d+) epochs", log).groups())
    total = per_epoch * epochs
    signals = sum(fault not in ("kill-rank", "kill-during-save", "node-down") for fault in faults)
    lost = iterations_run(log) - total
    assert 0 <= lost <= may_lose + signals, f"{lost} iterations run twice: {faults}"
    if "kill-during-save" in faults:
        assert "left by a save that was killed" in log
    if any(fault.endswith("-in-validation") for fault in faults):
        assert re.search(r"validation after epoch (\d+) stopped.*?validation after epoch \1: mIoU", log, re.S)
    assert_no_leftovers(trial.run)
    for step in (0, 1):
        assert_same_weights(trial.run, references.get(settings), step)
    report(trial, faults, settings, lost, log, time.time() - start)


def report(trial: Trial, faults: list[str], settings: str, lost: int, log: str, seconds: float) -> None:
    """One line per trial in the pytest output (with -s), for docs/reliability.md."""
    starts = log.count("step 0 of ")
    at_zero = (f", {sum(trial.before_handlers)} of {len(trial.before_handlers)} signals at 0 s reached a rank "
               "before its handlers" if trial.before_handlers else "")
    print(f"\nfault trial {'+'.join(faults)} ({settings} settings, seed {SEED}): step 0 started {starts} times, "
          f"{lost} iterations run twice, bitwise equal, {seconds / 60:.1f} min{at_zero}", flush=True)


@pytest.mark.slurm
@pytest.mark.parametrize("timeout", [False, opt_in(True)], ids=["USR1-then-scancel", "real-timeout-then-scancel"])
def test_a_cancel_after_the_timeout_signal_wins_over_the_requeue_and_status_says_so(slurm_cluster, data,
                                                                                    tmp_path, timeout):
    run = tmp_path / "run"
    # --time=2 with the signal 75 s early: the job's own timeout signal comes 45 s after the start.
    # Enough epochs that step 0 outlasts the signal on an idle machine (4 epochs end in about 25 s).
    extra = ["launch.timeout_min=2", "launch.signal_delay_s=75", "train.epochs_base=40"] if timeout else []
    trial = Trial(run, data, random.Random(SEED), *extra)
    if timeout:
        trial.log.wait(r"stop requested \(timeout\)", timeout=300)
    else:
        trial.at_random_iteration()
        trial.signal("USR1")
    subprocess.run(["scancel", trial.jobs[0]], check=True)
    states = wait_for_jobs(trial.jobs, timeout=600)
    assert states == {trial.jobs[0]: "CANCELLED", trial.jobs[1]: "CANCELLED"}, states
    accounted = subprocess.run(["sacct", "-n", "-X", "-P", "-j", trial.jobs[0], "-o", "State"], capture_output=True,
                               text=True).stdout
    # With a signal of our own the cancel always comes during the save; the job's own timeout signal is seen
    # only in the log line written after the save, so the kit's requeue usually comes first: the cancel then ends
    # the requeued (pending) job, and accounting keeps REQUEUED as its last record, which status must see through.
    if not timeout:
        assert "REQUEUED" not in accounted
    assert manifest(run, 0)["state"] in (("cancelled", "requeued") if timeout else ("cancelled",))
    status = run_cli(["wilss.status", str(run)], cwd=REPO).stdout
    step0 = next(line for line in status.splitlines() if line.startswith("step0"))
    assert f"job {trial.jobs[0]} CANCELLED" in step0 and "cancelled" in step0.split(" | ")[2], status
    assert "never ran: cancelled because the step before it did not finish" in status, status
    assert_no_leftovers(run)
    again = run_cli(["wilss.submit", *CHAIN, *JOBS, *data, f"run_dir={run}"], cwd=REPO, timeout=120)
    assert again.returncode == 3 and f"job {trial.jobs[0]} ended CANCELLED" in again.stdout
    assert json.loads((run / "step0" / "manifest.json").read_text())["job_ids"] == [trial.jobs[0]]
    print(f"\nfault trial {'timeout' if timeout else 'USR1'} then scancel: CANCELLED, manifest "
          f"'{manifest(run, 0)['state']}', step 1 never ran", flush=True)


class SbatchTrial(Trial):
    """The same chain started as users type it on a cluster: `sbatch slurm/wilss.sbatch` with its options."""

    def __init__(self, run: Path, data: list[str], rng: random.Random, *options: str) -> None:
        self.options = options
        super().__init__(run, data, rng)

    def submit(self, *extra: str) -> list[str]:
        command = ["sbatch", "--parsable", "--nodes=2", "--ntasks-per-node=1", "--gpus-per-node=0",
                   "--cpus-per-task=1", "--mem=2G", f"--output={self.run.parent}/slurm-%j.out", *self.options,
                   str(REPO / "slurm" / "wilss.sbatch"), *CHAIN, *self.settings, *self.data, f"run_dir={self.run}",
                   *extra]
        env = dict(os.environ, PYTHON=sys.executable)
        return [subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env,
                               check=True).stdout.strip()]


# QOS of scripts/local_slurm.sh that wilss-urgent preempts: (QOS, how Slurm ends the chain's job, what then
# shows in step 0's manifest right after the stop)
PREEMPTION = {"cancel": ("wilss-scavenger", "PREEMPTED", "resubmitted"),
              "cancel-after-grace": ("wilss-scavenger-grace", "REQUEUED", "requeued"),
              "requeue": ("wilss-scavenger-requeue", "PREEMPTED", "preempted")}


def preempt(trial: Trial) -> str:
    """A job of the urgent QOS that needs every CPU of both nodes: Slurm preempts the chain's job for it."""
    return subprocess.run(["sbatch", "--parsable", "--qos=wilss-urgent", "--nodes=2", "--ntasks-per-node=2",
                           "--cpus-per-task=1", "--mem=1G", "--time=2", f"--output={trial.run.parent}/urgent-%j.out",
                           "--wrap", "sleep 25"], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.slurm
@pytest.mark.parametrize(("launcher", "mode"), [("sbatch", "cancel"), opt_in("submit", "cancel"),
                                                opt_in("sbatch", "cancel-after-grace"),
                                                opt_in("submit", "requeue")])
def test_a_preempted_chain_goes_on_by_itself_and_ends_bitwise_equal(slurm_cluster, data, references, tmp_path,
                                                                     launcher, mode):
    """Preemption by a QOS of higher priority. PreemptMode=CANCEL without grace time ends the job for good: the
    step saves, submits itself again and step 1 waits for the new job. With a grace time the kit requeues the
    job itself; with PreemptMode=REQUEUE Slurm does. Each chain ends bitwise equal to an uninterrupted run."""
    qos, ended, recorded = PREEMPTION[mode]
    references.start("fixed")
    start = time.time()
    run = tmp_path / "run"
    rng = random.Random(f"{SEED}-preempt-{launcher}-{mode}")
    trial = (SbatchTrial(run, data, rng, f"--qos={qos}") if launcher == "sbatch"
             else Trial(run, data, rng, f"launch.qos={qos}"))
    first = trial.jobs[0]
    trial.log.wait(PROGRESS.pattern)  # training has begun: 52 iterations, some 20 s, against 5 s to preempt
    urgent = preempt(trial)
    trial.stopped()
    wait_until(lambda: manifest(run, 0).get("state") == recorded, f"step 0's manifest to say {recorded}",
               timeout=120, poll=0.5)
    status = run_cli(["wilss.status", str(run)], cwd=REPO).stdout
    step0 = next(line for line in status.splitlines() if line.startswith("step0"))
    assert recorded in step0, status
    wait_until(lambda: (run / "step1" / "checkpoints" / "final.pt").is_file(), "the chain to finish", timeout=1500,
               poll=2)
    steps = [manifest(run, step)["job_id"] for step in (0, 1)]
    assert wait_for_jobs([*steps, urgent], timeout=300) == {**dict.fromkeys(steps, "COMPLETED"), urgent: "COMPLETED"}
    accounted = subprocess.run(["sacct", "-n", "-X", "-D", "-P", "-j", first, "-o", "State"], capture_output=True,
                               text=True).stdout.split()  # -D: every run of the job, not only its last
    assert ended in accounted, accounted
    # Cancelled: a new job for step 0, which step 1 waited for. Requeued: the same job, and no second one (two
    # jobs would train the step at once).
    assert manifest(run, 0)["job_ids"] == ([first, steps[0]] if mode == "cancel" else [first]), manifest(run, 0)
    assert_no_leftovers(run)
    for step in (0, 1):
        assert_same_weights(run, references.get("fixed"), step)
    print(f"\nfault trial preemption ({launcher}, {mode}, QOS {qos}): job {first} {ended}, step 0 {recorded}, "
          f"{len(manifest(run, 0)['job_ids'])} job(s) for step 0, bitwise equal, {(time.time() - start) / 60:.1f} min",
          flush=True)

"""The Slurm layer against a real Slurm cluster on this machine (scripts/local_slurm.sh: 2 nodes, accounting).

Every test runs the command a user types (`sbatch slurm/...`, `python -m wilss.submit`, `python -m
wilss.status`, `scontrol requeue`, `scancel --signal`) and checks what lands on disk and in Slurm. Interrupted
runs are compared bitwise with uninterrupted runs of the same config (CPU, fp32, deterministic kernels).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO, run_cli, write_voc
from wilss.launch import slurm
from wilss.synthetic.voc import ensure_synthetic

CPU_JOB = ["model=resnet18", "train.num_workers=0", "train.device=cpu", "train.log_interval=2", "eval.batch_size=4",
           "launch.gpus_per_node=0", "launch.cpus_per_task=1", "launch.mem_gb=2"]
GENERATE = {"n_train": 120, "n_val": 12, "size": 64, "seed": 0}
TINY = ["dataset=synthetic", "dataset.generate.train=120", "dataset.generate.val=12", "dataset.generate.size=64",
        "dataset.crop_size=64", "dataset.crop_size_val=64", *CPU_JOB]
# About 390 iterations (a minute or two), 13 per epoch: long enough to be interrupted mid-epoch; bitwise repeatable.
RESUMABLE = [*TINY, "task=15-5", "train.batch_size=4", "train.epochs_base=30",
             "train.epochs_incremental=1", "train.precision=fp32", "train.channels_last=false",
             "train.deterministic=true", "train.checkpoint_interval=1000", "train.val_interval=1000"]


@pytest.fixture(scope="session")
def slurm_cluster():
    """Start (or reuse) the local cluster. In CI a cluster that cannot start fails the tests: never a skip."""
    usable = shutil.which("sinfo") and subprocess.run(["timeout", "10", "sinfo"], capture_output=True).returncode == 0
    if not usable and os.geteuid() == 0:
        started = subprocess.run(["bash", str(REPO / "scripts" / "local_slurm.sh"), "up"], capture_output=True,
                                 text=True, timeout=900)
        usable = started.returncode == 0
        reason = started.stdout[-2000:] + started.stderr[-2000:]
    else:
        reason = "no running Slurm cluster and not root (run: sudo scripts/local_slurm.sh up)"
    if not usable:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"local Slurm cluster unavailable: {reason}")


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory) -> list[str]:
    """One synthetic dataset and presence cache for every run of this module (generated here, once)."""
    root = tmp_path_factory.mktemp("slurm-data")
    ensure_synthetic(root / "synthetic", **GENERATE)
    return [f"dataset.root={root / 'synthetic'}", f"dataset.cache_dir={root / 'cache'}"]


def job_ids_of(output: str) -> list[str]:
    return re.findall(r"job (\d+)", output)


def wait_for_jobs(job_ids: list[str], timeout: float = 900) -> dict[str, str]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = {job: slurm.job_state(job)[0] for job in job_ids}
        if not any(state in slurm.ACTIVE_STATES or state == "UNKNOWN" for state in states.values()):
            return states
        time.sleep(2)
    raise AssertionError(f"jobs {job_ids} still active after {timeout} s: {states}")


def wait_for_log(path: Path, pattern: str, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.is_file() and re.search(pattern, path.read_text()):
            return
        time.sleep(0.5)
    raise AssertionError(f"'{pattern}' never appeared in {path}")


def manifest(run: Path, step: int) -> dict:
    return json.loads((run / f"step{step}" / "manifest.json").read_text())


def final_weights(run: Path, step: int = 0) -> dict:
    return torch.load(run / f"step{step}" / "checkpoints" / "final.pt", weights_only=True)["modules"]["model"]


def assert_same_weights(run: Path, reference: Path) -> None:
    ours, theirs = final_weights(run), final_weights(reference)
    assert ours.keys() == theirs.keys()
    for key, value in ours.items():
        assert torch.equal(value, theirs[key]), key


def submit(*overrides: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return run_cli(["wilss.submit", *overrides], cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory, shared_data):
    """Uninterrupted step-0 runs on this machine, one and two processes (torchrun), started at once in the
    background so that they overlap with the Slurm jobs; call with the world size to wait for one."""
    root = tmp_path_factory.mktemp("reference")
    processes = {}
    for world in (1, 2):
        launcher = [] if world == 1 else ["torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
                                          f"--master_port={29400 + os.getpid() % 500}"]
        command = [sys.executable, "-m", *launcher, *(["-m"] if launcher else []), "wilss.train", *RESUMABLE,
                   *shared_data, "step=0", f"run_dir={root / str(world)}", f"output_root={root}"]
        processes[world] = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                            text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))

    def finished(world: int) -> Path:
        process = processes[world]
        _, stderr = process.communicate(timeout=1800)
        assert process.returncode == 0, stderr[-3000:]
        return root / str(world)

    yield finished
    for process in processes.values():
        process.kill()


@pytest.mark.slurm
def test_timeout_signal_checkpoints_requeues_and_resumes_bitwise(slurm_cluster, shared_data, reference_runs,
                                                                 tmp_path):
    run = tmp_path / "run"
    # A 2-minute limit with the signal 75 s before it: every run of the job is signalled 15-45 s after it starts.
    result = submit(*RESUMABLE, *shared_data, f"run_dir={run}", "launch.timeout_min=2", "launch.signal_delay_s=75")
    step0, step1 = job_ids_of(result.stdout)
    assert wait_for_jobs([step0, step1], timeout=1500)[step0] == "COMPLETED"
    log = (run / "step0" / "train.log").read_text()
    assert "stop requested (timeout)" in log and "resumed from" in log
    assert manifest(run, 0)["restarts"] >= 1 and manifest(run, 0)["job_ids"] == [step0]
    assert_same_weights(run, reference_runs(1))


def interrupt_mid_epoch(run: Path, world: int, interrupt: list[str], shared_data: list[str]) -> str:
    """Submit, wait for iteration 4 of epoch 1, run `interrupt + [job id]`, wait for the chain."""
    result = submit(*RESUMABLE, *shared_data, f"run_dir={run}", f"launch.nodes={world}")
    step0, step1 = job_ids_of(result.stdout)
    wait_for_log(run / "step0" / "train.log", r"epoch 1/30 iter 4/")
    subprocess.run([*interrupt, step0], check=True)
    assert wait_for_jobs([step0, step1], timeout=1200)[step0] == "COMPLETED"
    log = (run / "step0" / "train.log").read_text()
    saved = re.search(r"saved the checkpoint at epoch 0 iteration (\d+)", log)
    iters = int(re.search(r"(\d+) iterations per epoch", log).group(1))
    assert saved and 0 < int(saved.group(1)) < iters, "the interruption must fall inside an epoch"
    assert f"resumed from {run / 'step0' / 'checkpoints' / 'last.pt'} at epoch 0, iteration {saved.group(1)}" in log
    return log


@pytest.mark.slurm
def test_scontrol_requeue_mid_epoch_resumes_bitwise(slurm_cluster, shared_data, reference_runs, tmp_path):
    log = interrupt_mid_epoch(tmp_path / "run", 1, ["scontrol", "requeue"], shared_data)
    assert "stop requested (terminated)" in log
    assert_same_weights(tmp_path / "run", reference_runs(1))


@pytest.mark.slurm
def test_sigterm_on_two_nodes_all_ranks_stop_together_and_resume_bitwise(slurm_cluster, shared_data,
                                                                         reference_runs, tmp_path):
    # A bare SIGTERM (a preemption notice) while Slurm still runs the job: the step requeues itself.
    log = interrupt_mid_epoch(tmp_path / "run", 2, ["scancel", "--signal=TERM"], shared_data)
    assert "2 process(es)" in log and "requeued job" in log
    assert manifest(tmp_path / "run", 0)["restarts"] == 1
    assert_same_weights(tmp_path / "run", reference_runs(2))


@pytest.mark.slurm
def test_sbatch_script_runs_the_chain_with_ddp_across_both_nodes(slurm_cluster, shared_data, tmp_path):
    run = tmp_path / "run"
    command = ["sbatch", "--parsable", "--nodes=2", "--ntasks-per-node=1", "--gpus-per-node=0", "--cpus-per-task=1",
               "--mem=2G", "--time=15", str(REPO / "slurm" / "wilss.sbatch"), *TINY, *shared_data,
               "train.batch_size=8", "train.epochs_base=1", "train.epochs_incremental=1", f"run_dir={run}"]
    env = dict(os.environ, PYTHON=sys.executable, OUTPUT_ROOT=str(tmp_path / "out"))
    step0 = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env, check=True).stdout.strip()
    wait_for_log(run / "step1" / "manifest.json", "job_id")
    step1 = manifest(run, 1)["job_id"]
    states = wait_for_jobs([step0, step1])
    assert states == {step0: "COMPLETED", step1: "COMPLETED"}, states
    assert (run / "step1" / "results.json").is_file() and (run / "results.md").is_file()
    assert "2 process(es)" in (run / "step0" / "train.log").read_text()
    nodes = subprocess.run(["sacct", "-n", "-X", "-j", step0, "-o", "NodeList%30"], capture_output=True,
                           text=True).stdout.strip()
    assert nodes == "n[1-2]"
    assert manifest(run, 1)["job_ids"] == [step1]  # submitted once


def coco_voc_data(root: Path) -> list[str]:
    """A tiny COCO (non-VOC classes only: truck 8, traffic light 10, fire hydrant 11) and VOC, in their layouts."""
    from test_coco_and_scripts import write_coco

    ids = {"train": {str(i): [8, 10, 11][i % 3:] for i in range(12)}, "val": {str(i): [8, 1] for i in range(20, 24)}}
    coco = write_coco(root / "coco", ids, size=32)
    voc = write_voc(root / "voc", {f"t{i}": [15, 1][i % 2:] for i in range(8)}, {f"v{i}": [12, 15] for i in range(4)},
                    size=32)
    return [f"dataset.coco_root={coco}", f"dataset.voc_root={voc}", f"dataset.cache_dir={root / 'cache'}",
            "dataset.crop_size=32", "dataset.crop_size_val=32", *CPU_JOB, "train.batch_size=4"]


# script -> (its job name, the task it hands to the shared body, the run's dataset-task, data overrides)
TASK_SCRIPTS = {"voc_15-5.sbatch": ("wilss-voc-15-5", "task=15-5 overlap=false", "synthetic-15-5"),
                "voc_10-10.sbatch": ("wilss-voc-10-10", "task=10-10 overlap=false", "synthetic-10-10"),
                "coco_voc.sbatch": ("wilss-coco-voc", "dataset=coco-voc", "coco-voc-voc")}


@pytest.mark.slurm
@pytest.mark.parametrize("script", TASK_SCRIPTS)
def test_sbatch_per_task_script_as_users_type_it_runs_both_steps_of_its_chain(slurm_cluster, shared_data, tmp_path,
                                                                              script):
    """`sbatch slurm/<task>.sbatch` from the repository, as the README says, with only what this CPU-only
    cluster and the small data need: sbatch options before the script (they replace its GPU #SBATCH lines;
    --output keeps the logs out of the repository), the data, model and size overrides after it."""
    job_name, handed, runs = TASK_SCRIPTS[script]
    run = tmp_path / "run"
    options = ["--ntasks-per-node=1", "--gpus-per-node=0", "--cpus-per-task=1", "--mem=2G", "--time=15",
               f"--output={tmp_path}/slurm-%x-%j.out"]
    data = coco_voc_data(tmp_path) if script == "coco_voc.sbatch" else [*TINY, *shared_data, "train.batch_size=8"]
    overrides = [*data, "train.epochs_base=1", "train.epochs_incremental=1", f"run_dir={run}"]
    env = dict(os.environ, PYTHON=sys.executable, OUTPUT_ROOT=str(tmp_path / "out"))
    submitted = subprocess.run(["sbatch", *options, f"slurm/{script}", *overrides], cwd=REPO,
                               capture_output=True, text=True, env=env)
    assert submitted.returncode == 0, submitted.stderr
    step0 = re.fullmatch(r"Submitted batch job (\d+)", submitted.stdout.strip()).group(1)
    wait_for_log(run / "step1" / "manifest.json", "job_id")
    step1 = manifest(run, 1)["job_id"]
    states = wait_for_jobs([step0, step1])
    assert states == {step0: "COMPLETED", step1: "COMPLETED"}, states
    assert (run / "step1" / "results.json").is_file() and (run / "results.md").is_file()
    assert f"step 0 of {runs}" in (run / "step0" / "train.log").read_text()
    # Step 1's job ran the same script: its name, and its own task handed to the shared body.
    accounted = subprocess.run(["sacct", "-n", "-X", "-P", "-j", f"{step0},{step1}", "-o", "JobID,JobName"],
                               capture_output=True, text=True).stdout.split()
    assert sorted(accounted) == sorted([f"{step0}|{job_name}", f"{step1}|{job_name}"])
    submit_line = subprocess.run(["sacct", "-n", "-X", "-P", "-j", step1, "-o", "SubmitLine"], capture_output=True,
                                 text=True).stdout
    assert f"{REPO}/slurm/{script}" in submit_line and "--gpus-per-node=0" in submit_line, submit_line
    for step, job in enumerate((step0, step1)):
        log = (tmp_path / f"slurm-{job_name}-{job}.out").read_text()
        assert re.search(rf"step {step} on \S+: {handed} output_root=", log), log[-3000:]


@pytest.mark.slurm
def test_sbatch_demo_runs_the_demo_chain_on_a_cpu_only_cluster_as_the_readme_types_it(slurm_cluster, shared_data,
                                                                                        tmp_path):
    """`sbatch slurm/demo.sbatch` needs no sbatch option on a cluster without GPUs (its header asks for none); here
    only --output (logs out of the repository) and overrides that make the chain short. Its last job ends with
    the recorded demo table's verdict: here 'not compared', naming the overrides that shortened it."""
    run = tmp_path / "run"
    overrides = [*TINY[1:6], *shared_data, "train.batch_size=8", "train.epochs_base=1", "train.epochs_incremental=1",
                 f"run_dir={run}"]
    env = dict(os.environ, PYTHON=sys.executable, OUTPUT_ROOT=str(tmp_path / "out"))
    submitted = subprocess.run(["sbatch", f"--output={tmp_path}/slurm-%x-%j.out", "slurm/demo.sbatch", *overrides],
                               cwd=REPO, capture_output=True, text=True, env=env)
    assert submitted.returncode == 0, submitted.stderr
    step0 = re.fullmatch(r"Submitted batch job (\d+)", submitted.stdout.strip()).group(1)
    wait_for_log(run / "step1" / "manifest.json", "job_id")
    step1 = manifest(run, 1)["job_id"]
    assert wait_for_jobs([step0, step1]) == {step0: "COMPLETED", step1: "COMPLETED"}
    assert "step 0 of synthetic-15-5" in (run / "step0" / "train.log").read_text()
    log = (tmp_path / f"slurm-wilss-demo-{step1}.out").read_text()
    assert re.search(r"step 1 on \S+: experiment=demo output_root=", log), log[-3000:]
    assert "synthetic 15-5 — mIoU % on val" in log and "Expected results 'demo'" in log, log[-3000:]
    assert "train.epochs_base=1" in log.split("Expected results 'demo'")[1], log[-3000:]


@pytest.mark.slurm
def test_status_of_a_queued_sbatch_chain_lists_only_the_jobs_that_will_write_it(slurm_cluster, tmp_path):
    """Three chains queued (held) by one user: status of each run directory lists its own job only; the
    default run directory (the submit folder's outputs/) is found as well as an explicit run_dir=."""
    def sbatch(*overrides: str) -> str:
        command = ["sbatch", "--parsable", "--hold", f"--output={tmp_path}/slurm-%j.out", str(REPO / "slurm" /
                   "demo.sbatch"), *overrides]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()

    jobs = {"a": sbatch(f"run_dir={tmp_path / 'a'}"), "b": sbatch("run_dir=b"),
            "default": sbatch("name=mine")}
    try:
        runs = {"a": tmp_path / "a", "b": tmp_path / "b", "default": tmp_path / "outputs" / "synthetic-15-5" / "mine"}
        for which, run in runs.items():
            status = run_cli(["wilss.status", str(run)], cwd=REPO)
            assert status.returncode == 0 and "no step has started yet" in status.stdout, status.stdout + status.stderr
            listed = set(re.findall(r"job (\d+) ", status.stdout))
            assert listed == {jobs[which]}, (which, status.stdout)
        nobody = run_cli(["wilss.status", str(tmp_path / "c")], cwd=REPO)
        assert nobody.returncode != 0 and "none of your queued jobs will write it" in nobody.stderr, nobody.stderr
    finally:
        subprocess.run(["scancel", *jobs.values()], check=False)


@pytest.mark.slurm
def test_submit_returns_at_once_then_step1_waits_afterok_and_a_second_submit_does_nothing(slurm_cluster,
                                                                                          shared_data, tmp_path):
    # Typed as the README types it, in a fresh folder of a login node: no VOC, no ImageNet weights and no GPU
    # node here, so nothing is queued and each problem is named with its option.
    typed = run_cli(["wilss.submit", "task=10-10"], cwd=tmp_path)
    assert typed.returncode == 2 and "the run would fail; nothing was queued" in typed.stderr, typed.stderr
    for named in ("dataset.root", "model.pretrained", "launch asks for", "gpus_per_node"):
        assert named in typed.stderr, typed.stderr
    assert not (tmp_path / "outputs").exists() and "Submitted" not in typed.stdout
    # The same command with the data, model and resources of this cluster runs the chain.
    run = tmp_path / "run"
    overrides = ["task=10-10", *TINY, *shared_data, "train.batch_size=8", "train.epochs_base=1",
                 "train.epochs_incremental=1", f"run_dir={run}"]
    start = time.time()
    first = submit(*overrides)
    assert first.returncode == 0, first.stderr
    assert time.time() - start < 30
    step0, step1 = job_ids_of(first.stdout)
    state, reason = slurm.job_state(step1)
    assert state == "PENDING" and reason == "Dependency"
    assert wait_for_jobs([step0, step1]) == {step0: "COMPLETED", step1: "COMPLETED"}
    status = run_cli(["wilss.status", str(run)], cwd=REPO)
    assert status.returncode == 0 and status.stdout.count("COMPLETED | finished") == 2, status.stdout
    wait_for_log(run / "results.md", r"\| 1 \|", timeout=120)  # the report job queued after step 1 writes the table
    again = submit(*overrides)
    assert again.returncode == 0 and "submitted as job" not in again.stdout
    assert again.stdout.count("finished, skipped") == 2
    assert manifest(run, 0)["job_ids"] == [step0] and manifest(run, 1)["job_ids"] == [step1]


@pytest.mark.slurm
def test_a_failing_step0_cancels_step1_and_the_commands_say_so(slurm_cluster, tmp_path):
    run = tmp_path / "run"
    # launch.preflight=false: submit's preflight would refuse the missing root; this test needs a job that fails.
    overrides = ["dataset=voc", f"dataset.root={tmp_path / 'missing'}", *CPU_JOB, f"run_dir={run}",
                 "launch.preflight=false"]
    first = submit(*overrides)
    assert first.returncode == 0, first.stderr
    step0, step1 = job_ids_of(first.stdout)
    assert wait_for_jobs([step0, step1]) == {step0: "FAILED", step1: "CANCELLED"}
    status = run_cli(["wilss.status", str(run)], cwd=REPO).stdout
    assert f"job {step0} FAILED" in status and f"job {step1} CANCELLED" in status
    assert "failed" in manifest(run, 0)["state"]
    again = submit(*overrides)
    assert again.returncode == 3 and f"job {step0} ended FAILED" in again.stdout
    assert "submitted as job" not in again.stdout


@pytest.mark.slurm
def test_resubmit_failed_runs_the_failed_chain_again_once_the_input_is_fixed(slurm_cluster, shared_data, tmp_path):
    run = tmp_path / "run"
    broken = submit("dataset=voc", f"dataset.root={tmp_path / 'missing'}", *CPU_JOB, f"run_dir={run}",
                    "launch.preflight=false")  # a job that fails, not a submit that refuses
    failed = job_ids_of(broken.stdout)
    assert wait_for_jobs(failed) == {failed[0]: "FAILED", failed[1]: "CANCELLED"}
    fixed = submit(*TINY, *shared_data, "train.batch_size=8", "train.epochs_base=1", "train.epochs_incremental=1",
                   f"run_dir={run}", "launch.resubmit_failed=true")
    assert fixed.returncode == 0 and fixed.stdout.count("submitted as job") == 2, fixed.stdout
    resubmitted = job_ids_of(fixed.stdout)
    assert wait_for_jobs(resubmitted) == {job: "COMPLETED" for job in resubmitted}
    assert [manifest(run, step)["job_ids"] for step in (0, 1)] == [[old, new] for old, new in zip(failed, resubmitted)]


@pytest.mark.slurm
def test_requeue_cap_fails_the_step_with_the_reason_and_a_resubmit_resumes_it(slurm_cluster, shared_data, tmp_path):
    run = tmp_path / "run"
    result = submit(*RESUMABLE, *shared_data, f"run_dir={run}", "launch.timeout_min=2", "launch.signal_delay_s=75",
                    "launch.max_requeues=0")
    step0, step1 = job_ids_of(result.stdout)
    assert wait_for_jobs([step0, step1]) == {step0: "FAILED", step1: "CANCELLED"}
    assert manifest(run, 0)["state"] == "failed" and "requeue cap reached" in manifest(run, 0)["reason"]
    assert manifest(run, 0)["restarts"] == 0
    assert "launch.max_requeues=0: not requeueing" in (run / "step0" / "train.log").read_text()
    again = submit(*RESUMABLE, *shared_data, f"run_dir={run}", "launch.resubmit_failed=true")
    resubmitted = job_ids_of(again.stdout)
    assert wait_for_jobs(resubmitted) == {job: "COMPLETED" for job in resubmitted}
    assert "resumed from" in (run / "step0" / "train.log").read_text()  # the work done before the cap is kept


def test_local_cluster_runs_the_same_chain_with_two_processes_and_skips_it_when_finished(tmp_path, shared_data):
    """The workstation path (`cluster=local`): submitit's local executor, no Slurm involved."""
    run = tmp_path / "run"
    overrides = ["cluster=local", "task=10-10", *TINY, *shared_data, "train.batch_size=8", "train.epochs_base=1",
                 "train.epochs_incremental=1", "launch.tasks_per_node=2", f"run_dir={run}"]
    first = submit(*overrides)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "| wilson | 1 |" in first.stdout and (run / "results.md").is_file()
    assert all("2 process(es)" in (run / f"step{s}" / "train.log").read_text() for s in (0, 1))
    again = submit(*overrides)
    assert again.returncode == 0 and again.stdout.count("finished, skipped") == 2


def sweep_submit(sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    return submit(*TINY, "train.epochs_incremental=1", "method.pseudo_ep=0", f"sweep_dir={sweep_dir}",
                  f"output_root={sweep_dir.parent}", *overrides)


def submitted_jobs(output: str) -> list[str]:
    return re.findall(r"submitted as job (\d+(?:_\d+)?)", output)


@pytest.mark.slurm
def test_sweep_runs_each_step_as_job_arrays_with_aftercorr_trains_step0_once_and_resubmits_nothing(
        slurm_cluster, shared_data, tmp_path):
    """A 2 x 2 sweep (seeds x methods) of the 15-5 chain: step 0 once per seed, shared by both methods. A
    preemption notice to one array task requeues that task (by its <array>_<task> id), which resumes."""
    sweep_dir = tmp_path / "sweep"
    overrides = [*shared_data, "train.batch_size=8", "train.epochs_base=3", "seed=0,1", "method=wilson,ft"]
    first = sweep_submit(sweep_dir, *overrides)
    assert first.returncode == 0, first.stderr[-3000:]
    arrays = re.findall(r"step (\d): job array (\d+) \((\d) tasks(?:, (\S+))?\)", first.stdout)
    assert [(step, size) for step, _, size, _ in arrays] == [("0", "2"), ("1", "2"), ("1", "2")], first.stdout
    step0 = arrays[0][1]
    assert [dependency for *_, dependency in arrays] == ["", f"aftercorr:{step0}", f"aftercorr:{step0}"]
    queued = subprocess.run(["squeue", "-h", "-r", "-j", f"{arrays[1][1]},{arrays[2][1]}", "-o", "%E"],
                            capture_output=True, text=True).stdout.split()
    assert queued == [f"aftercorr:{step0}_*(unfulfilled)"] * 4  # Slurm holds the aftercorr dependency
    jobs = submitted_jobs(first.stdout)
    preempted = sweep_dir / "points" / "seed-0_method-wilson" / "step0"
    wait_for_log(preempted / "train.log", r"epoch 2/3 iter 2/")
    subprocess.run(["scancel", "--signal=TERM", f"{step0}_0"], check=True)
    assert len(jobs) == 6 and wait_for_jobs(jobs) == {job: "COMPLETED" for job in jobs}
    log = (preempted / "train.log").read_text()
    assert f"requeued job {step0}_0" in log and "resumed from" in log, log
    assert manifest(preempted.parent, 0)["restarts"] == 1 and manifest(preempted.parent, 0)["job_ids"] == [f"{step0}_0"]
    accounted = subprocess.run(["sacct", "-n", "-X", "-P", "-j", ",".join(a[1] for a in arrays), "-o", "JobID,State"],
                               capture_output=True, text=True).stdout.split()
    assert sorted(accounted) == sorted(f"{job}|COMPLETED" for job in jobs)
    shared = sorted((sweep_dir / "shared").glob("step0-*/step0"))  # one step 0 per seed, both methods on it
    assert len(shared) == 2 and all((d / "train.log").read_text().count("iterations per epoch") ==
                                    1 + json.loads((d / "manifest.json").read_text())["restarts"] for d in shared)
    for seed in (0, 1):
        points = [sweep_dir / "points" / f"seed-{seed}_method-{method}" for method in ("wilson", "ft")]
        assert points[0].joinpath("step0").resolve() == points[1].joinpath("step0").resolve()
    status = run_cli(["wilss.status", str(sweep_dir)], cwd=REPO).stdout
    assert "4 points: 4 done, 0 running, 0 pending, 0 failed" in status and status.count("COMPLETED") == 8, status
    report = (sweep_dir / "report" / "report.md").read_text()  # written by the last job to finish
    for method in ("wilson", "ft"):
        assert re.search(rf"\| {method} \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \|", report), report
    again = sweep_submit(sweep_dir, *overrides)
    assert again.returncode == 0 and not submitted_jobs(again.stdout) and again.stdout.count("finished, skipped") == 6


@pytest.mark.slurm
def test_a_failing_point_of_a_sweep_stops_only_its_own_steps(slurm_cluster, shared_data, tmp_path):
    """Batch 1000 makes no batch of the 120 images: that point's step 0 fails, and aftercorr cancels only its
    step 1; the other point of the same arrays finishes."""
    sweep_dir = tmp_path / "sweep"
    first = sweep_submit(sweep_dir, *shared_data, "train.epochs_base=1", "train.batch_size=8,1000")
    assert first.returncode == 0, first.stderr[-3000:]
    jobs = {(point, step): manifest(sweep_dir / "points" / f"train.batch_size-{point}", step)["job_id"]
            for point in (8, 1000) for step in (0, 1)}
    states = wait_for_jobs(list(jobs.values()))
    assert {key: states[job] for key, job in jobs.items()} == {
        (8, 0): "COMPLETED", (8, 1): "COMPLETED", (1000, 0): "FAILED", (1000, 1): "CANCELLED"}
    assert jobs[8, 0].split("_")[0] == jobs[1000, 0].split("_")[0]  # one array per step
    status = run_cli(["wilss.status", str(sweep_dir)], cwd=REPO).stdout
    assert "2 points: 1 done, 0 running, 0 pending, 1 failed" in status, status
    again = sweep_submit(sweep_dir, *shared_data, "train.epochs_base=1", "train.batch_size=8,1000")
    assert again.returncode == 3 and "not resubmitted" in again.stdout and not submitted_jobs(again.stdout)


@pytest.mark.slurm
def test_sbatch_chain_passes_its_command_line_options_to_step1_and_refuses_a_second_job_for_a_step(
        slurm_cluster, shared_data, tmp_path):
    run = tmp_path / "run"
    # experiment=demo chooses the dataset (synthetic): the script takes the task from the overrides. Data-loading
    # workers as users run it.
    overrides = ["experiment=demo", "dataset.generate.train=120", "dataset.generate.val=12", "dataset.generate.size=64",
                 "dataset.crop_size=64", "dataset.crop_size_val=64", "train.device=cpu", "train.num_workers=2",
                 "eval.batch_size=4", "train.batch_size=8", "train.epochs_base=3", "train.epochs_incremental=1",
                 *shared_data, f"run_dir={run}"]
    options = ["--nodes=1", "--ntasks-per-node=1", "--gpus-per-node=0", "--cpus-per-task=1", "--mem=2G", "--time=15",
               "--signal=USR1@45", "--qos=wilss-test", "--constraint=wilss-test"]
    # As in the environment of a job that was requeued: step 0 inherits it (sbatch exports everything), step 1
    # must not, or step 0's restarts would count against step 1's cap.
    env = dict(os.environ, PYTHON=sys.executable, OUTPUT_ROOT=str(tmp_path / "out"), SLURM_RESTART_COUNT="3")

    def sbatch(*extra: str) -> str:
        command = ["sbatch", "--parsable", *options, *extra, str(REPO / "slurm" / "wilss.sbatch"), *overrides]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env,
                              check=True).stdout.strip()

    held = sbatch("--hold")  # the same chain submitted twice; this one waits until the other runs
    status = run_cli(["wilss.status", str(run)], cwd=REPO)
    assert status.returncode == 0 and "no step has started yet" in status.stdout, status.stdout + status.stderr
    assert f"job {held} wilss PENDING (JobHeldUser)" in status.stdout, status.stdout
    step0 = sbatch()
    wait_for_log(run / "step0" / "train.log", r"epoch 1/3 iter")
    subprocess.run(["scontrol", "release", held], check=True)
    wait_for_log(run / "step1" / "manifest.json", "job_id")
    step1 = manifest(run, 1)["job_id"]
    # The refused duplicate ends cleanly (not FAILED), and status says what it was.
    assert wait_for_jobs([step0, held, step1]) == {step0: "COMPLETED", held: "COMPLETED", step1: "COMPLETED"}
    refused = (tmp_path / f"slurm-wilss-{held}.out").read_text()
    assert f"already belongs to job {step0}" in refused
    status = run_cli(["wilss.status", str(run)], cwd=REPO).stdout
    assert f"job {held} ended at its start: a second submission of the step, which job {step0} has" in status
    assert "step 0 of synthetic-15-5" in (run / "step0" / "train.log").read_text()
    shown = subprocess.run(["scontrol", "show", "job", step1], capture_output=True, text=True).stdout
    assert "QOS=wilss-test" in shown and "Features=wilss-test" in shown, shown
    submit_line = subprocess.run(["sacct", "-n", "-X", "-P", "-j", step1, "-o", "SubmitLine"], capture_output=True,
                                 text=True).stdout
    assert "--signal=USR1@45" in submit_line and "--hold" not in submit_line, submit_line
    assert manifest(run, 0)["job_ids"] == [step0] and manifest(run, 1)["job_ids"] == [step1]
    assert manifest(run, 0)["restarts"] == 3 and manifest(run, 1)["restarts"] == 0

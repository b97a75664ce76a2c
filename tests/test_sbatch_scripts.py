"""The sbatch scripts without a cluster: each per-task script hands its task to the shared body (slurm/chain_step.sh),
which is run here with stand-ins for scontrol, sacct, sbatch and srun, and the job's one planning call (`python -m
wilss.launch.sbatch_chain start`) for real; and `wilss scripts` writes them for pip users (tests/test_slurm.py runs
them on the local Slurm cluster)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from wilss.config import load_config
from wilss.launch.manifest import read_manifest
from wilss.launch.sbatch_chain import job_overrides
from wilss.launch.signals import HOLD_STOP_SIGNALS
from wilss.layout import StepLayout
from wilss.spec import resolve

SLURM = REPO / "slurm"
# script -> (the task it hands to the shared body, its job name, its time limit)
TASKS = {
    "voc_15-5.sbatch": (["dataset=voc", "task=15-5", "overlap=false"], "wilss-voc-15-5", "24:00:00"),
    "voc_10-10.sbatch": (["dataset=voc", "task=10-10", "overlap=false"], "wilss-voc-10-10", "24:00:00"),
    "coco_voc.sbatch": (["dataset=coco-voc"], "wilss-coco-voc", "48:00:00"),
    "wilss.sbatch": ([], "wilss", "24:00:00"),
    "demo.sbatch": (["experiment=demo"], "wilss-demo", "3:00:00"),
}
CPU_ONLY = {"demo.sbatch"}
RESOURCES = ("nodes", "ntasks-per-node", "gpus-per-node", "cpus-per-task", "mem", "signal")
# Each stand-in writes its name and arguments as one line, separated by \x1f.
STAND_IN = """#!/bin/bash
{ printf '%s\\x1f' "$(basename "$0")" "$@"; echo; } >>"$FAKE_LOG"
case "$(basename "$0")" in
  scontrol) echo "   Command=$FAKE_SCRIPT" ;;
  sacct) echo "sbatch --time=15 $FAKE_SCRIPT dataset.root=/d" ;;
  sbatch) echo "4243" ;;
  python) [ "$3" = start ] && exec "$REAL_PYTHON" "$@" ;;  # the real planning of the job
esac
exit 0
"""


def step_files(tmp_path: Path, name: str, overrides: tuple[str, ...], step: int) -> StepLayout:
    """The files of a step of the chain that slurm/NAME runs with `overrides` under the default OUTPUT_ROOT."""
    task = TASKS[name][0]
    return resolve(load_config(job_overrides(task, f"{tmp_path}/outputs", "0", list(overrides)))).step(step).files


def run_script(tmp_path: Path, name: str, *overrides: str, next_step: str = "") -> list[list[str]]:
    """Run slurm/NAME as the job of step 0 would (the stand-ins answer for Slurm); the calls it made, in order.
    Without `next_step` step 1 has finished, so the job has no next step to submit."""
    if not next_step:
        finished = step_files(tmp_path, name, overrides, 1)
        finished.checkpoints.mkdir(parents=True)
        finished.final.touch()
        finished.results.write_text("{}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("scontrol", "sacct", "sbatch", "srun", "python"):
        (bin_dir / tool).write_text(STAND_IN)
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "calls.log"
    log.unlink(missing_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLURM_", "WILSS_"))}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", FAKE_LOG=str(log), FAKE_SCRIPT=str(SLURM / name), SLURM_JOB_ID="4242",
               SLURM_JOB_NODELIST="n1", SLURM_SUBMIT_DIR=str(tmp_path),
               PYTHON=str(bin_dir / "python"), REAL_PYTHON=sys.executable)
    # sbatch runs a copy of the script (elsewhere): the shared part must be found from scontrol's Command=.
    copy = tmp_path / "slurm_script"
    copy.write_bytes((SLURM / name).read_bytes())
    result = subprocess.run(["bash", str(copy), *overrides], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return [line.split("\x1f")[:-1] for line in log.read_text().splitlines()]


def srun_overrides(calls: list[list[str]]) -> list[str]:
    (srun,) = [call for call in calls if call[0] == "srun"]
    hold = len(HOLD_STOP_SIGNALS)
    assert srun[1] == "--kill-on-bad-exit=1" and srun[3 + hold:5 + hold] == ["-m", "wilss.launch.step"], srun
    return srun[5 + hold:]


@pytest.mark.parametrize("name", TASKS)
def test_each_rank_starts_with_the_stop_signals_held_as_the_step_module_says(tmp_path, name):
    """The ranks' Python starts under `env --block-signal`: a stop signal before the handlers waits for them.
    The shell's prefix and wilss.launch.step's (which the submitit path uses) are the same."""
    (srun,) = [call for call in run_script(tmp_path, name) if call[0] == "srun"]
    assert tuple(srun[2:2 + len(HOLD_STOP_SIGNALS)]) == HOLD_STOP_SIGNALS, srun


@pytest.mark.parametrize("name", TASKS)
def test_each_script_hands_its_task_to_the_shared_body(tmp_path, name):
    task, _, _ = TASKS[name]
    calls = run_script(tmp_path, name, "seed=3", "train.batch_size=8")
    assert srun_overrides(calls) == [*task, f"output_root={tmp_path}/outputs", "seed=3",
                                     "train.batch_size=8", "step=0"]
    claimed = read_manifest(step_files(tmp_path, name, ("seed=3", "train.batch_size=8"), 0))
    assert (claimed["job_id"], claimed["state"]) == ("4242", "running")  # the step of srun's overrides
    assert not [call for call in calls if call[0] == "sbatch"]  # the last step submits nothing


@pytest.mark.parametrize("name", TASKS)
def test_the_next_step_runs_the_same_script_with_the_users_overrides_and_options(tmp_path, name):
    calls = run_script(tmp_path, name, "seed=3", next_step="1")
    (sbatch,) = [call for call in calls if call[0] == "sbatch"]
    assert sbatch[1:] == ["--parsable", "--time=15", "--dependency=afterok:4242", "--kill-on-invalid-dep=yes",
                          "--export=ALL,WILSS_STEP=1", str(SLURM / name), "seed=3"]
    recorded = read_manifest(step_files(tmp_path, name, ("seed=3",), 1))
    assert (recorded["job_id"], recorded["state"]) == ("4243", "submitted") and srun_overrides(calls)[-1] == "step=0"


@pytest.mark.parametrize("overrides, task", [
    (["dataset=synthetic"], ["task=15-5", "overlap=false"]),
    (["overlap=true", "+task=10-10"], ["dataset=voc"]),
    (["experiment=demo"], []),  # the experiment brings its own dataset and task
])
def test_a_key_on_the_command_line_wins_over_the_scripts_task(tmp_path, overrides, task):
    """The rule by which the job's planning call (`start`) composes the overrides srun gets: a command line that
    does not compose (`+task=` beside the script's task) is refused by that call, in the job."""
    ran = job_overrides(TASKS["voc_15-5.sbatch"][0], f"{tmp_path}/outputs", "0", overrides)
    assert ran == [*task, f"output_root={tmp_path}/outputs", *overrides, "step=0"]


def sbatch_lines(text: str) -> dict[str, str]:
    return dict(re.findall(r"^#SBATCH --([\w-]+)=(\S+)", text, flags=re.M))


def code_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("name", TASKS)
def test_each_script_is_a_header_and_a_task_around_the_shared_body(name):
    """No copied logic: besides its #SBATCH lines and TASK_OVERRIDES, a script holds only wilss.sbatch's lines
    that find and source chain_step.sh."""
    task, job_name, time_limit = TASKS[name]
    text = (SLURM / name).read_text()
    header = sbatch_lines(text)
    assert header["job-name"] == job_name and header["time"] == time_limit
    own = ("job-name", "time", *RESOURCES) if name in CPU_ONLY else ("job-name", "time")
    assert {key: value for key, value in header.items() if key not in own} == {
        key: value for key, value in sbatch_lines((SLURM / "wilss.sbatch").read_text()).items() if key not in own}
    if name in CPU_ONLY:  # runs as typed where no GPU exists: asks for none
        assert not re.search(r"^#SBATCH .*(gpu|gres)", text, flags=re.M) and header["ntasks-per-node"] == "1"
    code = code_lines(text)
    assert code[0].startswith(f"TASK_OVERRIDES=({' '.join(task)})  #")
    assert code[1:] == code_lines((SLURM / "wilss.sbatch").read_text())[1:]
    assert code[-1] == 'source "$(dirname "$SCRIPT")/chain_step.sh"'
    assert os.access(SLURM / name, os.X_OK)


def test_slurm_is_the_packages_folder():
    """One copy of the scripts: the repository's slurm/ is the package's wilss/slurm/."""
    assert SLURM.is_symlink() and SLURM.resolve() == (REPO / "wilss" / "slurm").resolve()


def test_wilss_scripts_writes_the_repositorys_scripts_executable_and_keeps_edits(tmp_path):
    target = tmp_path / "my-scripts"
    result = run_cli(["wilss", "scripts", str(target)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = {path.name for path in SLURM.iterdir()}
    assert expected >= {*TASKS, "chain_step.sh", "README.md"}
    assert {path.name for path in target.iterdir()} == expected
    for name in expected:
        assert (target / name).read_bytes() == (SLURM / name).read_bytes(), name
        executable = (target / name).stat().st_mode & stat.S_IXUSR
        assert bool(executable) == name.endswith(".sbatch"), name
    assert f"sbatch {target / 'voc_15-5.sbatch'} dataset.root=" in result.stdout
    (target / "voc_15-5.sbatch").write_text("#!/bin/bash\n# edited\n")
    again = run_cli(["wilss", "scripts", str(target)], cwd=tmp_path)
    assert again.returncode == 2 and "voc_15-5.sbatch" in again.stderr and "--force" in again.stderr
    assert (target / "voc_15-5.sbatch").read_text() == "#!/bin/bash\n# edited\n"
    forced = run_cli(["wilss", "scripts", str(target), "--force"], cwd=tmp_path)
    assert forced.returncode == 0 and (target / "voc_15-5.sbatch").read_bytes() == (SLURM / "voc_15-5.sbatch").read_bytes()


def test_help_texts_point_at_what_a_pip_user_has():
    """Not at the repository's README.md or docs/, which a wheel does not hold."""
    for args in (["wilss", "--help"], ["wilss.launch.step", "--help"], ["wilss", "scripts", "--help"]):
        result = run_cli(args, cwd=REPO)
        assert result.returncode == 0, result.stderr
        assert not re.search(r"see README\.md|slurm/README\.md|docs/", result.stdout), (args, result.stdout)
    assert "wilss scripts DIR" in run_cli(["wilss", "--help"], cwd=REPO).stdout

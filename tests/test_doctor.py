"""`wilss doctor [overrides]`, the preflight of a run: each problem that would stop the run after the queue is
named on one line with its fix and the exit status is 1; the demo's setup passes; `wilss submit` runs the cheap
checks before it queues anything."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, run_cli, write_voc
from test_slurm import slurm_cluster  # noqa: F401 - the real local cluster (fixture)
from wilss import preflight
from wilss.config import SEARCH_PATH_ENV, load_config
from wilss.doctor import main as doctor
from wilss.errors import WilssError
from wilss.preflight.environment import optional_package_problems
from wilss.preflight.skip import Skipped

DEMO = ["--for", "chain", "experiment=demo"]  # as the README types it
LOCAL_DEMO = ["experiment=demo", "cluster=local"]  # `wilss submit` on this machine


def run_doctor(capsys, *overrides: str) -> tuple[int, list[str]]:
    """Exit status and the FAIL lines of `wilss doctor`, called as the console script calls it."""
    status = doctor(list(overrides))
    return status, [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]


def test_the_demo_setup_passes_as_the_user_types_it(tmp_path):
    result = subprocess.run(["wilss", "doctor", *DEMO], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PATH=f"{os.path.dirname(os.sys.executable)}:{os.environ['PATH']}"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout and "FAIL" not in result.stdout
    # What it could not look at says so (nothing unchecked reads "ok"): no Slurm for `wilss chain`, no dataset
    # before the synthetic one is drawn, no ImageNet weights for the demo's model.
    for check in ("Slurm", "dataset layout and split lists", "ImageNet weights present"):
        assert re.search(rf"^skip  {re.escape(check)}: \S", result.stdout, flags=re.M), result.stdout


@pytest.mark.slurm
def test_doctor_for_chain_checks_the_local_run_even_where_slurm_is_reachable(capsys, tmp_path, slurm_cluster):  # noqa: F811
    # sbatch on PATH and a cluster without the GPUs the default launch asks for: the submit check fails there,
    # the chain (which trains here) passes.
    status, fails = run_doctor(capsys, "experiment=demo", f"output_root={tmp_path}")
    assert status == 1 and [line for line in fails if line.startswith("FAIL  Slurm:")], fails
    status, fails = run_doctor(capsys, "--for", "chain", "experiment=demo", f"output_root={tmp_path}")
    assert status == 0 and not fails, fails


def test_a_missing_optional_package_is_named_as_such_not_as_an_output_directory_problem(capsys, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` fails as where it is not installed
    status = doctor([*DEMO, f"output_root={tmp_path}", "model=timm_resnet50", "model.pretrained=null"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    assert [line for line in lines if line.startswith("FAIL")] == [
        "FAIL  the model builds (optional packages such as timm): missing optional dependency: "
        "model.backbone=timm_resnet needs the optional package timm, which is not installed: pip install "
        "'wilss[timm]'."], lines
    assert any(line.startswith("skip  output directory and free space: writable; the checkpoints' size needs the "
                               "model") for line in lines), lines


def test_submit_refuses_a_timm_model_without_timm_before_queueing(tmp_path, monkeypatch):
    """What submit runs of the model check finds the package without importing it (tests/test_submit.py: submit
    loads no torch)."""
    monkeypatch.setitem(sys.modules, "timm", None)  # as where it is not installed
    cfg = load_config(["experiment=demo", f"output_root={tmp_path}", "model=timm_resnet50", "model.pretrained=null"])
    with pytest.raises(WilssError, match=r"the model builds \(optional packages such as timm\): missing optional "
                                         r"dependency: model.backbone=timm_resnet needs the optional package timm"):
        preflight.require(cfg)
    with pytest.raises(Skipped, match="model.backbone=resnet18 needs no optional package"):
        optional_package_problems(load_config(["experiment=demo", f"output_root={tmp_path}"]))


def test_missing_imagenet_weights_are_named_with_where_to_get_them(capsys, tmp_path):
    status, fails = run_doctor(capsys, *DEMO, f"output_root={tmp_path}", f"model.pretrained={tmp_path}/r18.pth")
    assert status == 1 and len(fails) == 1
    assert fails[0].startswith(f"FAIL  ImageNet weights present: model.pretrained: ImageNet weights {tmp_path}/r18.pth "
                               f"not found. Download it from the model zoo")
    assert "model.pretrained=null" in fails[0]


def test_weights_with_the_wrong_md5_are_named_with_both_checksums(capsys, tmp_path):
    weights = tmp_path / "resnet101_iabn_sync.pth.tar"
    weights.write_bytes(b"an interrupted download")
    status, fails = run_doctor(capsys, *DEMO, f"output_root={tmp_path}", f"model.pretrained={weights}",
                               "model.pretrained_md5=1552ae0f3d610108df702135f56bd27b")
    assert status == 1 and len(fails) == 1
    actual = hashlib.md5(b"an interrupted download").hexdigest()
    assert fails[0].startswith(f"FAIL  ImageNet weights md5: model.pretrained: {weights} has md5 {actual}, expected "
                               f"1552ae0f3d610108df702135f56bd27b (model.pretrained_md5). The file is incomplete")


def test_a_voc_copy_whose_subsets_differ_from_the_published_index_is_named_per_step(capsys, tmp_path, tiny_voc):
    status, fails = run_doctor(capsys, "cluster=local", f"dataset.root={tiny_voc}", f"output_root={tmp_path}",
                               f"dataset.cache_dir={tmp_path / 'cache'}", "model.pretrained=null")
    assert status == 1
    assert any("train_aug.txt: 10 entries, the published train split has 10582" in line for line in fails)
    subsets = [line for line in fails if line.startswith("FAIL  per-step subset sizes")]
    assert len(subsets) == 2 and "step 0 of voc 15-5 has" in subsets[0] and "index 8437" in subsets[0]
    assert "index 2145" in subsets[1]


def test_a_damaged_image_is_named_by_the_data_check(capsys, tmp_path, tiny_voc):
    image = tiny_voc / "JPEGImages" / "c.jpg"
    image.write_bytes(image.read_bytes()[:100])
    status, fails = run_doctor(capsys, "cluster=local", f"dataset.root={tiny_voc}", f"output_root={tmp_path}",
                               f"dataset.cache_dir={tmp_path / 'cache'}", "model.pretrained=null")
    decode = [line for line in fails if line.startswith("FAIL  every image and mask decodes")]
    assert status == 1 and len(decode) == 2, fails   # tiny_voc lists its images in train_aug and val
    assert all(f"image '{image}' cannot be decoded" in line and "Replace it" in line for line in decode)


def test_the_published_voc_sizes_pass(capsys, tmp_path, monkeypatch):
    """The subset check compares with the table, not with anything it computed itself."""
    from wilss.data.datasets.voc import VOC_PUBLISHED

    root = write_voc(tmp_path / "voc", {"a": [1], "b": [16]})
    monkeypatch.setitem(VOC_PUBLISHED.lines, "splits/train_aug.txt", 2)
    monkeypatch.setitem(VOC_PUBLISHED.lines, "splits/val.txt", 2)
    monkeypatch.setitem(VOC_PUBLISHED.subsets, ("15-5", False, 0), 1)
    monkeypatch.setitem(VOC_PUBLISHED.subsets, ("15-5", False, 1), 1)
    status, fails = run_doctor(capsys, "cluster=local", f"dataset.root={root}", f"output_root={tmp_path}",
                               f"dataset.cache_dir={tmp_path / 'cache'}", "model.pretrained=null")
    assert (status, fails) == (0, [])


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody may write in: a read-only tmpfs as root (root ignores permission bits), else mode 555."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], check=True)
        yield folder
        subprocess.run(["umount", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


def test_a_read_only_output_directory_is_named_with_the_option_to_change(capsys, read_only_dir):
    status, fails = run_doctor(capsys, *DEMO, f"output_root={read_only_dir}")
    assert status == 1 and len(fails) == 1
    assert fails[0].startswith(f"FAIL  output directory and free space: output directory {read_only_dir}/")
    assert "cannot write" in fails[0] and "output_root=PATH" in fails[0]


def test_too_little_space_for_the_checkpoints_is_named_with_both_sizes(capsys, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs a small file system: mounting a 1 MB tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        status, fails = run_doctor(capsys, *DEMO, f"output_root={small}")
    finally:
        subprocess.run(["umount", str(small)], check=True)
    assert status == 1 and "GB free on its file system" in fails[0] and "2 step(s) need about" in fails[0]


def test_no_slurm_on_path_names_the_commands_and_the_local_alternative(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH: a laptop, or a login shell without the module
    status, fails = run_doctor(capsys, "experiment=demo", "cluster=slurm", f"output_root={tmp_path}")
    assert status == 1
    assert fails == ["FAIL  Slurm: cluster=slurm but sbatch, squeue, sacct, scontrol, sinfo not on PATH: run on a "
                     "login node (module load slurm), or use cluster=local to run here"]


CPU_LAUNCH = ["launch.gpus_per_node=0", "launch.cpus_per_task=1", "launch.mem_gb=1"]


@pytest.mark.slurm
def test_a_partition_the_local_cluster_does_not_have_is_named_with_those_it_has(capsys, tmp_path, slurm_cluster):  # noqa: F811
    status, fails = run_doctor(capsys, "experiment=demo", "cluster=slurm", f"output_root={tmp_path}", *CPU_LAUNCH,
                               "launch.partition=gpu-a100")
    assert status == 1
    assert fails == ["FAIL  Slurm: launch.partition=gpu-a100 does not exist on this cluster: choose one of debug"]


@pytest.mark.slurm
def test_resources_no_node_of_the_local_cluster_has_are_named_with_its_largest_node(capsys, tmp_path,
                                                                                    slurm_cluster):  # noqa: F811
    status, fails = run_doctor(capsys, "experiment=demo", "cluster=slurm", f"output_root={tmp_path}", *CPU_LAUNCH,
                               "launch.cpus_per_task=64")
    assert status == 1 and len(fails) == 1
    assert "64 CPUs" in fails[0] and "partition debug has 0 such node(s)" in fails[0] and "lower launch." in fails[0]


@pytest.mark.slurm
def test_the_site_preset_of_the_local_cluster_passes_there(capsys, tmp_path, monkeypatch, slurm_cluster):  # noqa: F811
    monkeypatch.setenv(SEARCH_PATH_ENV, str(REPO / "configs"))
    status, fails = run_doctor(capsys, "experiment=demo", "cluster=slurm", "launch=local-cluster",
                               f"output_root={tmp_path}")
    assert (status, fails) == (0, [])


def test_submit_runs_the_cheap_checks_before_queueing_anything(tmp_path):
    result = run_cli(["wilss.submit", *LOCAL_DEMO, f"output_root={tmp_path}", f"model.pretrained={tmp_path}/none.pth"],
                     cwd=REPO, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "nothing was queued" in result.stderr and f"ImageNet weights {tmp_path}/none.pth not found" in result.stderr
    assert "launch.preflight=false" in result.stderr
    assert not any(tmp_path.iterdir()), "the preflight writes nothing"


def test_submit_with_the_preflight_off_queues_and_fails_in_the_job(tmp_path):
    small = ["dataset.generate.train=8", "dataset.generate.val=4", "dataset.generate.size=32", "dataset.crop_size=32",
             "dataset.crop_size_val=32"]
    result = run_cli(["wilss.submit", *LOCAL_DEMO, *small, f"output_root={tmp_path}",
                      f"model.pretrained={tmp_path}/none.pth", "launch.preflight=false"], cwd=REPO, timeout=300)
    assert result.returncode == 3, result.stdout + result.stderr  # the chain failed: in the job, not before it
    assert "nothing was queued" not in result.stderr
    assert (tmp_path / "synthetic-15-5" / "demo" / "step0" / "manifest.json").is_file()


def test_doctor_prints_the_configuration_it_checks_with_cfg_and_runs_no_check(capsys):
    assert doctor(["--for", "chain", "--cfg", "experiment=demo"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("task:\n") and "all checks passed" not in printed
    assert "${" in printed  # as written; --resolve resolves the interpolations
    assert doctor(["--cfg", "job", "--resolve", "experiment=demo"]) == 0
    assert "${" not in capsys.readouterr().out

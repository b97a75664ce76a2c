"""`wilss data prepare` on archives in the official formats, then `wilss data check` and the subset sizes of
the prepared roots; checksums, resume after a kill, and no half dataset."""

from __future__ import annotations

import contextlib
import http.server
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, run_cli
from official_formats import (class_map, sbd_mat_bytes, write_coco_zips, write_sbd_tgz, write_segmentation_class_aug,
                              write_voc_tar)
from wilss.data.build import subset_size
from wilss.data.cli import cli
from wilss.data.tasks import get_task

# VOC: 01, 02 train; 03, 04 val. SBD annotates 02 (a different mask: VOC's wins), 03 and 04 (VOC val: kept out
# of train_aug), 09 and 10, which VOC's segmentation sets lack. 11 is an image no set lists.
VOC_TRAIN = {"2007_000001": [1], "2007_000002": [15]}
VOC_VAL = {"2007_000003": [2], "2007_000004": [18]}
SBD_TRAIN = {"2007_000002": [16], "2008_000009": [16], "2007_000003": [5]}
SBD_VAL = {"2008_000010": [3, 17], "2007_000004": [18]}   # 04 is VOC val too, as SBD's val holds some


@pytest.fixture
def archives(tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    write_voc_tar(folder / "VOCtrainval_11-May-2012.tar", VOC_TRAIN, VOC_VAL, ["2008_000009", "2008_000010",
                                                                               "2008_000011"])
    write_sbd_tgz(folder / "benchmark.tgz", SBD_TRAIN, SBD_VAL)
    things = np.full((14, 20), 91, dtype=np.uint8)          # stuff everywhere ...
    things[:, 5:10] = 7                                      # ... a truck (COCO id 8, a base class)
    person = things.copy()
    person[:, 12:15] = 0                                     # ... plus a person (COCO id 1, a VOC class)
    write_coco_zips(folder, {"train": {"000000000009": things, "000000000025": person},
                             "val": {"000000000139": np.full((17, 23), 255, dtype=np.uint8)}},
                    modes={"000000000025": "L", "000000000139": "CMYK"})   # COCO has grayscale and CMYK JPEGs
    return folder


def data_cli(*args, cwd=REPO, env=None):
    return run_cli(["wilss", "data", *map(str, args)], cwd=cwd, timeout=180, env=env)


def prepare(capsys, *args):
    """`wilss data prepare ...` in this process (the errors' cases: no interpreter start per case)."""
    try:
        cli(["prepare", *map(str, args)])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)


def run_next(result, cache, cwd=REPO):
    """The `next:` line a prepare printed, run exactly as printed (from the same folder)."""
    line = next(line for line in result.stdout.splitlines() if line.startswith("next: "))
    words = shlex.split(line[len("next: "):])
    assert words[:3] == ["wilss", "data", "check"], line
    return data_cli(*words[2:], cwd=cwd, env={"WILSS_CACHE_DIR": str(cache)})


def refused(result, *fragments):
    """Exit 2 with one paragraph that holds every fragment, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert str(fragment) in result.stderr, (fragment, result.stderr)


def voc_sizes(root, cache):
    data = SimpleNamespace(name="voc", root=str(root), cache_dir=str(cache))
    return [subset_size(data, get_task("voc", "15-5", step), overlap) for step, overlap in
            ((0, False), (0, True), (1, False))]


def test_voc_from_the_official_archives_passes_the_check_with_the_expected_subsets(tmp_path, archives):
    out = tmp_path / "voc"
    result = data_cli("prepare", "voc", "--archives", archives, "--out", out, "--no-verify", "--subset")
    assert result.returncode == 0, result.stderr
    assert "train_aug 4 samples, val 2 samples" in result.stdout
    train_aug = (out / "splits" / "train_aug.txt").read_text().split()[1::2]
    assert [p.split("/")[-1][:-4] for p in train_aug] == ["2007_000001", "2007_000002", "2008_000009", "2008_000010"]
    assert (out / "splits" / "val.txt").read_text().startswith("/JPEGImages/2007_000003.jpg ")
    mask = Image.open(out / "SegmentationClassAug" / "2007_000002.png")
    assert mask.mode == "L" and set(np.unique(np.asarray(mask))) == {0, 15, 255}   # VOC's, void border kept
    sbd = np.asarray(Image.open(out / "SegmentationClassAug" / "2008_000010.png"))
    assert np.array_equal(sbd, class_map([3, 17], image_id="2008_000010"))
    assert not (out / "JPEGImages" / "2008_000011.jpg").exists()
    assert not list(tmp_path.glob(".voc.*")), "the work folder is renamed into place"

    check = run_next(result, tmp_path / "cache")
    assert check.returncode == 0, check.stderr
    assert "ok: 4 samples" in check.stdout and "ok: 2 samples" in check.stdout
    # 15-5: step 0 disjoint {01 (1), 02 (15)}, overlap adds 10 (3 and 17); step 1 {09 (16), 10 (17)}
    assert voc_sizes(out, tmp_path / "cache") == [2, 3, 2]


def test_coco_voc_from_the_official_archives_converts_both_splits_and_the_voc_side(tmp_path, archives):
    coco, voc = tmp_path / "my data" / "coco", tmp_path / "my data" / "voc's"   # the next: line quotes them
    result = data_cli("prepare", "coco-voc", "--archives", archives, "--out", coco, "--voc-out", voc, "--no-verify",
                      "--subset")
    assert result.returncode == 0, result.stderr
    assert (coco / "split" / "train.txt").read_text() == "000000000009\n000000000025\n"
    val = np.asarray(Image.open(coco / "annotations" / "val2017" / "000000000139.png"))
    assert val.dtype == np.uint8 and set(np.unique(val)) == {255}              # unlabelled stays 255
    assert set(np.unique(np.asarray(Image.open(coco / "annotations" / "train2017" / "000000000025.png")))) == {0, 1, 8}
    check = run_next(result, tmp_path / "cache")
    assert check.returncode == 0, check.stderr
    assert f"samples of '{voc / 'splits' / 'train_aug.txt'}'" in check.stdout     # both sides checked
    data = SimpleNamespace(name="coco-voc", coco_root=str(coco), voc_root=str(voc), cache_dir=str(tmp_path / "cache"))
    # step 0 keeps the truck-only image and drops the one with a person; step 1 trains on all of train_aug
    assert [subset_size(data, get_task("coco-voc", "voc", step), False) for step in (0, 1)] == [1, 4]


def test_an_archive_with_a_wrong_checksum_is_refused_and_no_dataset_appears(tmp_path, archives):
    result = data_cli("prepare", "voc", "--archives", archives, "--out", tmp_path / "voc", "--subset")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "VOCtrainval_11-May-2012.tar' has MD5" in result.stderr and "6cd6e144f989b92b3379bac3b3de84fd" in result.stderr
    assert "--no-verify" in result.stderr and "Download it again" in result.stderr
    assert not (tmp_path / "voc").exists()


def test_missing_archives_and_an_existing_output_are_named_with_the_fix(tmp_path, archives):
    (archives / "benchmark.tgz").unlink()
    missing = data_cli("prepare", "voc", "--archives", archives, "--out", tmp_path / "voc", "--no-verify", "--subset")
    assert missing.returncode == 2 and "benchmark.tgz" in missing.stderr and "--download" in missing.stderr
    assert not (tmp_path / ".voc.prepare").exists(), "every input is checked before the VOC tar is extracted"
    (tmp_path / "taken").mkdir()
    taken = data_cli("prepare", "voc", "--archives", archives, "--out", tmp_path / "taken", "--no-verify", "--subset")
    assert taken.returncode == 2 and "already exists" in taken.stderr and "--out" in taken.stderr


def test_a_killed_prepare_leaves_no_dataset_and_a_rerun_resumes(tmp_path, archives):
    """The extracted folders are accepted as well as the archives. One SBD annotation is a FIFO: the worker
    that reads it blocks, the other converts every other mask, and the prepare is killed there."""
    subprocess.run(["tar", "-xf", archives / "VOCtrainval_11-May-2012.tar", "-C", archives], check=True)
    subprocess.run(["tar", "-xzf", archives / "benchmark.tgz", "-C", archives], check=True)
    blocked = archives / "benchmark_RELEASE" / "dataset" / "cls" / "2008_000010.mat"
    blocked.unlink()
    os.mkfifo(blocked)
    out = tmp_path / "voc"
    command = [sys.executable, "-m", "wilss", "data", "prepare", "voc", "--archives", str(archives), "--out", str(out),
               "--workers", "2", "--subset"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = tmp_path / ".voc.prepare"
    deadline = time.monotonic() + 120
    while len(list(work.glob("SegmentationClassAug/*.png"))) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists(), "a killed prepare must leave no dataset"
    done = work / "SegmentationClassAug" / "2008_000009.png"
    before = done.stat().st_ino, done.stat().st_mtime_ns

    blocked.unlink()
    blocked.write_bytes(sbd_mat_bytes(class_map([3, 17], image_id="2008_000010")))
    result = data_cli("prepare", "voc", "--archives", archives, "--out", out, "--subset")
    assert result.returncode == 0, result.stderr
    converted = out / "SegmentationClassAug" / "2008_000009.png"
    assert (converted.stat().st_ino, converted.stat().st_mtime_ns) == before, "a converted mask is not redone"
    assert len((out / "splits" / "train_aug.txt").read_text().splitlines()) == 4


def test_damaged_sbd_annotation_is_named_and_nothing_is_published(tmp_path, archives):
    subprocess.run(["tar", "-xzf", archives / "benchmark.tgz", "-C", archives], check=True)
    (archives / "benchmark_RELEASE" / "dataset" / "cls" / "2008_000009.mat").write_bytes(b"MATLAB 5.0 garbage")
    result = data_cli("prepare", "voc", "--archives", archives, "--out", tmp_path / "voc", "--no-verify", "--subset")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "2008_000009.mat' cannot be converted (not a readable MATLAB file" in result.stderr
    assert "resumes" in result.stderr
    assert not (tmp_path / "voc").exists()


def test_missing_scipy_is_a_clear_error(tmp_path, archives):
    blocker = tmp_path / "no_scipy"
    (blocker / "scipy").mkdir(parents=True)
    (blocker / "scipy" / "__init__.py").write_text("raise ImportError('scipy is not installed')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", str(REPO))])}
    result = run_cli(["wilss", "data", "prepare", "voc", "--archives", str(archives), "--out", str(tmp_path / "voc")],
                     cwd=REPO, env=env)
    assert result.returncode == 2 and "pip install 'wilss[data]'" in result.stderr
    assert not (tmp_path / ".voc.prepare").exists(), "nothing is extracted before the extra is found missing"


def assert_nothing_written(tmp_path, *names):
    """No dataset and no work folder: the refusal came before any work."""
    for name in names:
        assert not (tmp_path / name).exists() and not (tmp_path / f".{name}.prepare").exists(), name


def test_coco_alone_prints_a_check_of_its_own_side_that_works_from_the_same_folder(tmp_path, archives):
    result = data_cli("prepare", "coco-voc", "--archives", archives, "--out", "coco", "--no-verify", "--subset",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "prepared coco: train 2 samples, val 1 samples" in result.stdout
    check = run_next(result, tmp_path / "cache", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert [line for line in check.stdout.splitlines() if line.startswith("ok:")] == [
        "ok: 2 samples of 'coco/split/train.txt'", "ok: 1 samples of 'coco/split/val.txt'"]


def test_stand_in_archives_are_not_the_official_release_without_subset(tmp_path, archives, capsys):
    voc = prepare(capsys, "voc", "--archives", archives, "--out", tmp_path / "voc", "--no-verify")
    refused(voc, f"ids in 'VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt' in "
                 f"'{archives / 'VOCtrainval_11-May-2012.tar'}': 2 (official: 1464)",
            f"ids in 'benchmark_RELEASE/dataset/val.txt' in '{archives / 'benchmark.tgz'}': 2 (official: 2857)",
            "samples of the train_aug split: 4 (official: 10582)", "--subset")
    coco = prepare(capsys, "coco-voc", "--archives", archives, "--out", tmp_path / "coco", "--no-verify")
    refused(coco, f"images in '{archives / 'val2017.zip'}': 1 (official: 5000)",
            f"train2017 maps in '{archives / 'stuffthingmaps_trainval2017.zip'}': 2 (official: 118287)")
    assert not (tmp_path / "voc").exists() and not (tmp_path / "coco").exists()


def test_an_empty_split_is_refused_even_with_subset(tmp_path, capsys):
    """SBD annotates only a VOC val image, and VOC lists no train image: train_aug would be empty."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    write_voc_tar(folder / "VOCtrainval_11-May-2012.tar", {}, VOC_VAL, [])
    write_sbd_tgz(folder / "benchmark.tgz", {"2007_000003": [5]}, {})
    result = prepare(capsys, "voc", "--archives", folder, "--out", tmp_path / "voc", "--no-verify", "--subset")
    refused(result, "samples of the train_aug split: 0 (official: 10582)")
    assert "samples of the val split" not in result.stderr and not (tmp_path / "voc").exists()


@pytest.mark.parametrize("swap", ["val2017.zip as train2017.zip", "SBD as the VOC tar", "VOC 2007 as VOC 2012",
                                  "empty train2017 folder", "truncated zip", "html page"])
def test_a_wrong_input_under_the_right_name_is_named_before_any_work(tmp_path, archives, capsys, swap):
    voc_tar, train_zip = archives / "VOCtrainval_11-May-2012.tar", archives / "train2017.zip"
    own_name = "Save it under its own name, then download the official one from http"
    dataset, expected, fix = {
        "val2017.zip as train2017.zip": ("coco-voc", f"archive '{train_zip}' holds the COCO val2017 images "
                                         "(val2017.zip), not the COCO train2017 images (train2017.zip)", own_name),
        "SBD as the VOC tar": ("voc", f"archive '{voc_tar}' holds SBD (benchmark.tgz), not Pascal VOC 2012", own_name),
        "VOC 2007 as VOC 2012": ("voc", f"archive '{voc_tar}' holds Pascal VOC 2007", own_name),
        "empty train2017 folder": ("coco-voc", f"folder '{archives / 'train2017'}' has no '*.jpg'", "Delete it"),
        "truncated zip": ("coco-voc", f"archive '{train_zip}' is a damaged or truncated zip archive",
                          "Download it again from http://images.cocodataset.org/zips/train2017.zip"),
        "html page": ("coco-voc", f"archive '{train_zip}' is an HTML page", "or pass --download"),
    }[swap]
    if swap.startswith("val2017"):
        shutil.copy(archives / "val2017.zip", train_zip)
    elif swap.startswith("SBD"):
        shutil.copy(archives / "benchmark.tgz", voc_tar)
    elif swap.startswith("VOC 2007"):
        write_voc_tar(voc_tar, VOC_TRAIN, VOC_VAL, [], year=2007)
    elif swap.startswith("empty"):
        (archives / "train2017").mkdir()
    elif swap.startswith("truncated"):
        train_zip.write_bytes(train_zip.read_bytes()[:train_zip.stat().st_size // 2])
    else:
        train_zip.write_bytes(b"<!DOCTYPE html>\n<html><body>Rate limit exceeded</body></html>\n")
    result = prepare(capsys, dataset, "--archives", archives, "--out", tmp_path / "out", "--no-verify", "--subset")
    refused(result, expected, fix)
    assert "method gz" not in result.stderr and ".prepare" not in result.stderr
    assert_nothing_written(tmp_path, "out")


def test_sbd_annotation_missing_from_the_archive_is_named_as_its_member(tmp_path, archives, capsys):
    write_sbd_tgz(archives / "benchmark.tgz", SBD_TRAIN, SBD_VAL, without_cls=("2008_000009",))
    result = prepare(capsys, "voc", "--archives", archives, "--out", tmp_path / "voc", "--no-verify", "--subset")
    refused(result, f"'benchmark_RELEASE/dataset/cls/2008_000009.mat' in '{archives / 'benchmark.tgz'}' is missing")
    assert ".voc.prepare/sources" not in result.stderr and not (tmp_path / "voc").exists()


def test_option_errors_are_named_before_any_work(tmp_path, archives, capsys):
    (tmp_path / "voc").mkdir()
    taken = prepare(capsys, "coco-voc", "--archives", archives, "--out", tmp_path / "coco", "--voc-out",
                    tmp_path / "voc", "--no-verify", "--subset")
    refused(taken, f"'{tmp_path / 'voc'}' already exists (option --voc-out)")
    assert_nothing_written(tmp_path, "coco")
    not_a_folder = prepare(capsys, "voc", "--archives", archives / "benchmark.tgz", "--out", tmp_path / "v2")
    refused(not_a_folder, f"'{archives / 'benchmark.tgz'}' is a file (option --archives): it must be a folder")
    absent = prepare(capsys, "voc", "--archives", tmp_path / "nowhere", "--out", tmp_path / "v2")
    refused(absent, "does not exist (option --archives): it must be a folder")
    assert_nothing_written(tmp_path, "v2")


@contextlib.contextmanager
def proxy(files: dict[str, bytes]):
    """A local HTTP proxy (as `http_proxy` reaches it) serving `files` by the URL's file name, from the byte a
    Range header asks. `server.mode`: 'full', 'truncate' (the announced length, half the bytes, then close) or
    'stall' (accept, never answer)."""
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.rsplit("/", 1)[-1]
            start = int(self.headers.get("Range", "bytes=0-")[len("bytes="):].split("-")[0])
            server.requested.append(name)
            server.starts.append(start)
            if server.mode == "stall":
                release.wait(60)
                return
            data = files[name]
            body = data[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body if server.mode == "full" else body[:len(body) // 2])
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.mode, server.requested, server.starts = "full", [], []
    server.env = {"http_proxy": f"http://127.0.0.1:{server.server_address[1]}", "no_proxy": "", "NO_PROXY": ""}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_download_of_a_stalled_server_ends_at_the_timeout_and_leaves_nothing(tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    with proxy({}) as server:
        server.mode = "stall"
        started = time.monotonic()
        result = data_cli("prepare", "voc", "--archives", folder, "--out", tmp_path / "voc", "--download",
                          "--download-timeout", "1", env=server.env)
        elapsed = time.monotonic() - started
    refused(result, "cannot download http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar "
                    "(no data for 1 s (--download-timeout))", "nothing was saved as")
    assert elapsed < 30 and server.requested == ["VOCtrainval_11-May-2012.tar"]
    assert list(folder.iterdir()) == []
    assert_nothing_written(tmp_path, "voc")


def test_download_cut_short_resumes_and_download_replaces_a_damaged_archive(tmp_path, archives):
    """A transfer cut short is an error with no file under the final name, and the rerun resumes from the bytes
    kept; a truncated zip already under the final name (as a browser leaves it) is fetched again, whole."""
    full = (archives / "train2017.zip").read_bytes()
    half = len(full) // 2
    (archives / "train2017.zip").unlink()
    command = ["prepare", "coco-voc", "--archives", archives, "--download", "--no-verify", "--subset"]
    with proxy({"train2017.zip": full}) as server:
        server.mode = "truncate"
        cut = data_cli(*command, "--out", tmp_path / "coco", env=server.env)
        refused(cut, "cannot download http://images.cocodataset.org/zips/train2017.zip (the connection closed "
                     f"after {half} of {len(full)} bytes): nothing was saved as", "Rerun the same command to resume")
        assert not (archives / "train2017.zip").exists()
        assert_nothing_written(tmp_path, "coco")
        assert (archives / "train2017.zip.part").read_bytes() == full[:half]

        server.mode = "full"
        resumed = data_cli(*command, "--out", tmp_path / "coco", env=server.env)
        assert resumed.returncode == 0, resumed.stderr
        assert server.starts == [0, half] and (archives / "train2017.zip").read_bytes() == full
        assert not (archives / "train2017.zip.part").exists()
        assert (tmp_path / "coco" / "split" / "train.txt").read_text() == "000000000009\n000000000025\n"

        (archives / "train2017.zip").write_bytes(full[:half])
        replaced = data_cli(*command, "--out", tmp_path / "coco2", env=server.env)
    assert replaced.returncode == 0, replaced.stderr
    assert "is a damaged or truncated zip archive" in replaced.stderr
    assert "--download fetches it again" in replaced.stderr
    assert server.starts == [0, half, 0] and (archives / "train2017.zip").read_bytes() == full
    assert f"download train2017.zip: {math.ceil(len(full) / 1024)} KiB" in replaced.stdout   # not '1 MiB'


def test_download_fetches_an_archive_that_fails_its_checksum_and_says_what_the_server_sent(tmp_path, archives):
    tar = archives / "VOCtrainval_11-May-2012.tar"
    served = tar.read_bytes()
    tar.write_bytes(served[:len(served) // 3])
    with proxy({tar.name: served}) as server:
        result = data_cli("prepare", "voc", "--archives", archives, "--out", tmp_path / "voc", "--download",
                          env=server.env)
    assert server.requested == [tar.name], "the damaged archive is fetched again"
    refused(result, f"archive '{tar}' has MD5", "It was just downloaded from http://host.robots.ox.ac.uk/",
            "rerun without --download")
    assert "pass --download" not in result.stderr
    assert_nothing_written(tmp_path, "voc")
    assert f"checksum of {tar.name}: {math.ceil(len(served) / 1024)} KiB" in result.stdout   # not '1 MiB'


def test_voc_from_deeplab_segmentation_class_aug_and_its_list(tmp_path, archives, capsys):
    """No SBD: DeepLab's masks (VOC's own converted, SBD's for the rest) and its train_aug list."""
    (archives / "benchmark.tgz").unlink()
    masks = {i: class_map(classes, void=True, image_id=i) for i, classes in {**VOC_TRAIN, **VOC_VAL}.items()}
    masks |= {i: class_map(classes, image_id=i) for i, classes in (("2008_000009", [16]), ("2008_000010", [3, 17]))}
    write_segmentation_class_aug(archives, masks, ["2007_000001", "2007_000002", "2008_000009", "2008_000010"])
    out = tmp_path / "voc"
    result = prepare(capsys, "voc", "--archives", archives, "--out", out, "--no-verify", "--subset")
    assert result.returncode == 0, result.stderr
    assert "prepared " + str(out) + ": train_aug 4 samples, val 2 samples" in result.stdout
    assert (out / "splits" / "train_aug.txt").read_text().split()[1::2] == [
        f"/SegmentationClassAug/{i}.png" for i in ("2007_000001", "2007_000002", "2008_000009", "2008_000010")]
    for image_id, labels in masks.items():
        assert np.array_equal(np.asarray(Image.open(out / "SegmentationClassAug" / f"{image_id}.png")), labels)

    (archives / "train_aug.txt").unlink()
    without_list = prepare(capsys, "voc", "--archives", archives, "--out", tmp_path / "v2", "--no-verify", "--subset")
    refused(without_list, f"'{archives / 'train_aug.txt'}' is missing", "benchmark.tgz")


def test_coco_from_the_folders_wilson_download_script_leaves(tmp_path, archives, capsys):
    """data/download_coco.sh: images/{train2017,val2017}/ and annotations/{train2017,val2017}/ (raw COCO-Stuff
    maps), the zips deleted."""
    wilson = tmp_path / "datasets"
    for name, into in (("train2017.zip", "images"), ("val2017.zip", "images"),
                       ("stuffthingmaps_trainval2017.zip", "annotations")):
        with zipfile.ZipFile(archives / name) as archive:
            archive.extractall(wilson / into)
    out = tmp_path / "coco"
    result = prepare(capsys, "coco-voc", "--archives", wilson, "--out", out, "--no-verify", "--subset")
    assert result.returncode == 0, result.stderr
    assert (out / "split" / "train.txt").read_text() == "000000000009\n000000000025\n"
    truck = np.asarray(Image.open(out / "annotations" / "train2017" / "000000000025.png"))
    assert set(np.unique(truck)) == {0, 1, 8}


def test_coco_voc_with_voc_out_publishes_both_sides_or_neither(tmp_path, archives, capsys):
    """The VOC side fails after the COCO side is written: neither is published, and once the damaged file is
    replaced the same command resumes both."""
    subprocess.run(["tar", "-xzf", archives / "benchmark.tgz", "-C", archives], check=True)
    damaged = archives / "benchmark_RELEASE" / "dataset" / "cls" / "2008_000009.mat"
    good = damaged.read_bytes()
    damaged.write_bytes(b"MATLAB 5.0 garbage")
    command = ("coco-voc", "--archives", archives, "--out", tmp_path / "coco", "--voc-out", tmp_path / "voc",
               "--no-verify", "--subset")
    refused(prepare(capsys, *command), "2008_000009.mat' cannot be converted")
    assert not (tmp_path / "coco").exists() and (tmp_path / ".coco.prepare" / "split" / "train.txt").is_file()
    damaged.write_bytes(good)
    result = prepare(capsys, *command)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "coco" / "split" / "train.txt").is_file() and (tmp_path / "voc" / "splits" / "val.txt").is_file()
    same = prepare(capsys, "coco-voc", "--archives", archives, "--out", tmp_path / "c2", "--voc-out", tmp_path / "c2")
    refused(same, "is the same folder as --out")

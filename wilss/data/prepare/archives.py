"""The official dataset archives: where they come from, their checksums, and reading them as folders.

An archive is used as downloaded (tar, tgz, zip) or as the folder extracting it gives. Archives are checked
against the official MD5 where one is published, then the members a dataset needs are extracted into the
work folder; a marker file records a finished extraction, so an interrupted prepare does not redo it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from wilss.data.prepare.files import write_file
from wilss.data.validate import confined
from wilss.errors import WilssError
from wilss.core import progress

log = logging.getLogger("wilss")
CHUNK = 1 << 20   # 1 MiB


@dataclass(frozen=True)
class Archive:
    filename: str       # as downloaded
    folder: str         # the folder extracting it (in the archives folder) gives
    prefix: str         # member path inside the archive that corresponds to `folder`
    url: str
    md5: str | None     # official checksum, where one is published

    def members_wanted(self, name: str, wanted: tuple[str, ...]) -> str | None:
        """The path below `folder` of a member the dataset needs, else None."""
        if not name.startswith(self.prefix):
            return None
        relative = name[len(self.prefix):]
        return relative if any(relative.startswith(part) for part in wanted) else None


VOC2012 = Archive("VOCtrainval_11-May-2012.tar", "VOCdevkit/VOC2012", "VOCdevkit/VOC2012/",
                  "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                  "6cd6e144f989b92b3379bac3b3de84fd")
SBD = Archive("benchmark.tgz", "benchmark_RELEASE", "benchmark_RELEASE/",
              "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz",
              "82b4d87ceb2ed10f6038a1cba92111cb")
COCO_TRAIN = Archive("train2017.zip", "train2017", "train2017/", "http://images.cocodataset.org/zips/train2017.zip",
                     "cced6f7f71b7629ddf16f17bbcfab6b2")
COCO_VAL = Archive("val2017.zip", "val2017", "val2017/", "http://images.cocodataset.org/zips/val2017.zip",
                   "442b8da7639aecaf257c1dceb8ba8c80")
# COCO-Stuff's maps unpack to train2017/ and val2017/, the images' folder names: extracted, they are expected in
# a folder of the archive's name. No official checksum is published for this archive.
COCO_STUFF = Archive("stuffthingmaps_trainval2017.zip", "stuffthingmaps_trainval2017", "",
                     "http://calvin.inf.ed.ac.uk/wp-content/uploads/data/cocostuffdataset/"
                     "stuffthingmaps_trainval2017.zip", None)


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        chunks = iter(lambda: handle.read(CHUNK), b"")
        for chunk in progress(chunks, -(-path.stat().st_size // CHUNK), f"checksum of {path.name}", unit="MiB"):
            digest.update(chunk)
    return digest.hexdigest()


def verify(archive: Archive, path: Path) -> None:
    if archive.md5 is None:
        log.warning("%s: no official checksum is published; its contents are checked while reading it.", path)
        return
    found = md5_of(path)
    if found != archive.md5:
        raise WilssError(f"archive '{path}' has MD5 {found}, but the official {archive.filename} has {archive.md5}: "
                         f"the download is incomplete or damaged. Download it again from {archive.url} (or pass "
                         "--download); --no-verify skips this check for a file you trust.")


def download(archive: Archive, path: Path) -> None:
    """Fetch the archive into `path` (atomically: a broken download leaves no file of that name)."""
    log.warning("downloading %s to %s", archive.url, path)
    try:
        with urllib.request.urlopen(archive.url) as response:
            total = int(response.headers.get("Content-Length") or 0)
            chunks = iter(lambda: response.read(CHUNK), b"")

            def write(handle):
                for chunk in progress(chunks, -(-total // CHUNK) or None, f"download {archive.filename}",
                                      unit="MiB"):
                    handle.write(chunk)
            write_file(path, write)
    except OSError as err:
        raise WilssError(f"cannot download {archive.url} ({err}). Download it by other means into "
                         f"'{path.parent}' and rerun without --download.") from None


def _members(path: Path) -> Iterator[tuple[str, int, callable]]:
    """(name, size, open) of every regular file in a tar or zip archive, in archive order."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield info.filename, info.file_size, lambda info=info: archive.open(info)
        return
    with tarfile.open(path) as archive:   # streaming would do, but tar's index costs one pass either way
        for member in archive:
            if member.isfile():
                yield member.name, member.size, lambda member=member: archive.extractfile(member)


def _extract(archive: Archive, path: Path, target: Path, wanted: tuple[str, ...]) -> None:
    """The wanted members under `target`; members already there with the right size are kept (resume)."""
    try:
        for name, size, open_member in progress(_members(path), None, f"extracting {path.name}"):
            relative = archive.members_wanted(name, wanted)
            if relative is None:
                continue
            dest = confined(target, relative, f"archive '{path}', member")
            if dest.is_file() and dest.stat().st_size == size:
                continue
            with open_member() as source:
                write_file(dest, lambda handle, source=source: shutil.copyfileobj(source, handle, CHUNK))
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        raise WilssError(f"archive '{path}' cannot be read ({err}); it is damaged or incomplete. Download it "
                         f"again from {archive.url}.") from None


def as_folder(archive: Archive, archives_dir: Path, work: Path, wanted: tuple[str, ...], check_md5: bool,
              fetch: bool) -> Path:
    """The archive's contents as a folder: the user's extracted folder, or the wanted members extracted into
    the work folder (once; a marker records it)."""
    extracted = archives_dir / archive.folder
    if extracted.is_dir():
        return extracted
    path = archives_dir / archive.filename
    if not path.is_file():
        if not fetch:
            raise WilssError(f"neither the archive '{path}' nor its extracted folder '{extracted}' exists. "
                             f"Download {archive.url} into '{archives_dir}', or pass --download.")
        download(archive, path)
    target = work / "sources" / archive.folder
    marker = target.parent / f".{archive.filename}.done"
    stamp = json.dumps({"size": path.stat().st_size, "mtime_ns": path.stat().st_mtime_ns})
    if marker.is_file() and marker.read_text() == stamp:
        return target
    if check_md5:
        verify(archive, path)
    _extract(archive, path, target, wanted)
    write_file(marker, lambda handle: handle.write(stamp.encode()))
    return target

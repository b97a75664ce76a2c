"""The official dataset archives: where they come from, what identifies them, and reading them as folders.

An archive is used as downloaded (tar, tgz, zip) or as the folder extracting it gives. Every input is located
and identified by its content before any work (`locate`): a wrong archive under the right name, a truncated
zip, an empty extracted folder are refused naming the file and the fix. Archives are checked against the
official MD5 where one is published; `--download` fetches a missing or damaged one (with a timeout, into a
temporary name renamed only once complete and verified). `unpack` then extracts the members a dataset needs
into the work folder; a marker file records a finished extraction, so an interrupted prepare does not redo it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from wilss.data.prepare.files import write_file
from wilss.data.validate import confined
from wilss.errors import WilssError
from wilss.core import progress

log = logging.getLogger("wilss")
CHUNK = 1 << 20
TAR_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ")   # gzip, bzip2, xz; a plain tar says 'ustar' at offset 257
IDENTIFY_FILES = 20                             # the first file members that identify an archive


@dataclass(frozen=True)
class Signature:
    """What an archive's file members look like: a path prefix (one of `marks`) and an ending."""
    title: str
    marks: tuple[str, ...]
    suffix: str = ""

    def matches(self, name: str) -> bool:
        return name.startswith(self.marks) and name.endswith(self.suffix)


@dataclass(frozen=True)
class Archive:
    filename: str       # as downloaded
    folder: str         # the folder extracting it (in the archives folder) gives
    prefix: str         # member path inside the archive that corresponds to `folder`
    url: str
    md5: str | None     # official checksum, where one is published
    signature: Signature
    required: tuple[str, ...]   # glob patterns below `folder` that a complete copy matches
    also: tuple[str, ...] = ()  # other tools' folders holding the same files, used when complete
    instead: str = ""           # what can replace it, for the message when it is missing

    def members_wanted(self, name: str, wanted: tuple[str, ...]) -> str | None:
        """The path below `folder` of a member the dataset needs, else None."""
        if not name.startswith(self.prefix):
            return None
        relative = name[len(self.prefix):]
        return relative if any(relative.startswith(part) for part in wanted) else None


VOC2012 = Archive("VOCtrainval_11-May-2012.tar", "VOCdevkit/VOC2012", "VOCdevkit/VOC2012/",
                  "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                  "6cd6e144f989b92b3379bac3b3de84fd",
                  Signature("Pascal VOC 2012 (VOCtrainval_11-May-2012.tar)", ("VOCdevkit/VOC2012/",)),
                  ("ImageSets/Segmentation/train.txt", "ImageSets/Segmentation/val.txt", "JPEGImages/*.jpg",
                   "SegmentationClass/*.png"))
SBD = Archive("benchmark.tgz", "benchmark_RELEASE", "benchmark_RELEASE/",
              "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz",
              "82b4d87ceb2ed10f6038a1cba92111cb", Signature("SBD (benchmark.tgz)", ("benchmark_RELEASE/",)),
              ("dataset/train.txt", "dataset/val.txt", "dataset/cls/*.mat"),
              instead="DeepLab's SegmentationClassAug.zip with its train_aug.txt")
# DeepLab's masks of train_aug (SBD's, converted; what most users download instead of SBD), with DeepLab's list
# train_aug.txt next to it. No checksum is published.
SEGMENTATION_CLASS_AUG = Archive(
    "SegmentationClassAug.zip", "SegmentationClassAug", "SegmentationClassAug/",
    "https://www.dropbox.com/s/oeu149j8qtbs1x0/SegmentationClassAug.zip?dl=1", None,
    Signature("DeepLab's SegmentationClassAug.zip", ("SegmentationClassAug/",), ".png"), ("*.png",))
COCO_TRAIN = Archive("train2017.zip", "train2017", "train2017/", "http://images.cocodataset.org/zips/train2017.zip",
                     "cced6f7f71b7629ddf16f17bbcfab6b2",
                     Signature("the COCO train2017 images (train2017.zip)", ("train2017/",), ".jpg"), ("*.jpg",),
                     also=("images/train2017",))   # WILSON's data/download_coco.sh unzips there
COCO_VAL = Archive("val2017.zip", "val2017", "val2017/", "http://images.cocodataset.org/zips/val2017.zip",
                   "442b8da7639aecaf257c1dceb8ba8c80",
                   Signature("the COCO val2017 images (val2017.zip)", ("val2017/",), ".jpg"), ("*.jpg",),
                   also=("images/val2017",))
# COCO-Stuff's maps unpack to train2017/ and val2017/, the images' folder names: extracted, they are expected in
# a folder of the archive's name. No official checksum is published for this archive.
COCO_STUFF = Archive("stuffthingmaps_trainval2017.zip", "stuffthingmaps_trainval2017", "",
                     "http://calvin.inf.ed.ac.uk/wp-content/uploads/data/cocostuffdataset/"
                     "stuffthingmaps_trainval2017.zip", None,
                     Signature("the COCO-Stuff maps (stuffthingmaps_trainval2017.zip)", ("train2017/", "val2017/"),
                               ".png"),
                     ("train2017/*.png", "val2017/*.png"), also=("annotations",))
# Archives users have that no prepare reads, recognised only to name them.
OTHERS = (Signature("Pascal VOC 2007 (VOCtrainval_06-Nov-2007.tar or VOCtest_06-Nov-2007.tar)",
                    ("VOCdevkit/VOC2007/",)),
          Signature("the COCO annotations (annotations_trainval2017.zip)", ("annotations/",), ".json"))
SIGNATURES = tuple(archive.signature for archive in (VOC2012, SBD, SEGMENTATION_CLASS_AUG, COCO_TRAIN, COCO_VAL,
                                                     COCO_STUFF)) + OTHERS


@dataclass(frozen=True)
class Fetch:
    """How a prepare gets its inputs: the archives folder and the options about checksums and downloads."""
    archives: Path
    check_md5: bool = True
    download: bool = False
    timeout_s: float = 60.0


def _chunked(size: int) -> tuple[int, str]:
    """Read size and progress unit for `size` bytes: KiB below 1 MiB, so a 310 KiB file reads '310 KiB'."""
    return (CHUNK, "MiB") if size >= CHUNK else (1 << 10, "KiB")


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    size = path.stat().st_size
    chunk, unit = _chunked(size)
    with open(path, "rb") as handle:
        chunks = iter(lambda: handle.read(chunk), b"")
        for block in progress(chunks, -(-size // chunk), f"checksum of {path.name}", unit=unit):
            digest.update(block)
    return digest.hexdigest()


def _kind(path: Path) -> str:
    """'zip' or 'tar', from the file's first bytes (not its name)."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith(b"PK"):
        return "zip"
    if head.startswith(TAR_MAGIC) or head[257:262] == b"ustar":
        return "tar"
    seen = "an HTML page (an error or login page saved in its place)" if b"<html" in head.lower() else (
        "empty" if not head else f"not a tar or zip archive (it starts with {head[:8]!r})")
    raise WilssError(seen)


def _members(path: Path) -> Iterator[tuple[str, int, Callable]]:
    """(name, size, open) of every regular file in a tar or zip archive, in archive order."""
    if _kind(path) == "zip":
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield info.filename, info.file_size, lambda info=info: archive.open(info)
        return
    with tarfile.open(path) as archive:
        for member in archive:
            if member.isfile():
                yield member.name, member.size, lambda member=member: archive.extractfile(member)


def _damaged(path: Path, err: Exception) -> str:
    try:
        return f"a damaged or truncated {_kind(path)} archive ({err})"
    except (OSError, WilssError):   # not even its first bytes can be read
        return f"unreadable ({err})"


def identify(path: Path) -> Signature | None:
    """The known archive `path` holds, from its first file members (cheap: no full pass over a tgz)."""
    with contextlib.closing(_members(path)) as members:
        names = []
        for name, _, _ in members:
            if not name.startswith("__MACOSX/"):
                names.append(name)
            if len(names) == IDENTIFY_FILES:
                break
    best = max(SIGNATURES, key=lambda signature: sum(map(signature.matches, names)))
    return best if any(map(best.matches, names)) else None


def _problem(archive: Archive, path: Path, check_md5: bool) -> tuple[str, bool]:
    """What is wrong with the archive file (empty: nothing) and whether downloading it again can fix it."""
    try:
        found = identify(path)
    except WilssError as err:
        return f"is {err}", True
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        return f"is {_damaged(path, err)}", True
    if found != archive.signature:
        what = found.title if found else "no archive any prepare reads"
        return f"holds {what}, not {archive.signature.title}", False
    if check_md5 and archive.md5 is not None:
        md5 = md5_of(path)
        if md5 != archive.md5:
            return (f"has MD5 {md5}, but the official {archive.filename} has {archive.md5}: the download is "
                    "incomplete or damaged (--no-verify skips this check for a file you trust)"), True
    return "", False


def _refuse(archive: Archive, path: Path, problem: str, refetch: bool, fetch: Fetch, downloaded: bool) -> WilssError:
    where = f"from {archive.url} into '{fetch.archives}'"
    if downloaded:
        fix = (f"It was just downloaded from {archive.url}: that server sends another file. Download it by other "
               f"means (a browser, a mirror) into '{fetch.archives}' and rerun without --download.")
    elif not refetch:   # another archive the user may need: never overwritten
        fix = f"Save it under its own name, then download the official one {where} (or rerun with --download)."
    else:
        fix = f"Download it again {where}" + ("." if fetch.download else ", or pass --download.")
    return WilssError(f"archive '{path}' {problem}. {fix}")


def _fetch_into(part: Path, archive: Archive, timeout_s: float) -> None:
    """Append the rest of the archive to `part` (HTTP Range from its size; all of it where the server does not
    resume); an error when fewer bytes arrive than the server announced."""
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(archive.url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        resumed = response.status == 206 and response.headers.get("Content-Range", "").startswith(f"bytes {have}-")
        start = have if resumed else 0
        total = start + int(response.headers.get("Content-Length") or 0)
        size, unit = _chunked(total or CHUNK)
        with open(part, "ab" if resumed else "wb") as handle:
            chunks = iter(lambda: response.read(size), b"")
            for chunk in progress(chunks, -(-(total - start) // size) or None,
                                  f"download {archive.filename}" + (f" from byte {start}" if start else ""), unit):
                handle.write(chunk)
            received = handle.tell()
    if total > start and received != total:
        raise OSError(f"the connection closed after {received} of {total} bytes")


def download(archive: Archive, path: Path, fetch: Fetch) -> None:
    """Fetch the archive into `path` through `<path>.part`, renamed only once complete: a stalled server ends after
    `timeout_s` without data, a short transfer is an error, and neither leaves a file under the final name; the
    part kept resumes on the next run."""
    part = path.with_name(f"{path.name}.part")
    log.warning("downloading %s to %s", archive.url, path)
    try:
        _fetch_into(part, archive, fetch.timeout_s)
    except (OSError, ValueError) as err:
        if getattr(err, "code", None) == 416:   # the part kept is not a beginning of this file: start over
            part.unlink(missing_ok=True)
        stalled = isinstance(getattr(err, "reason", err), TimeoutError)
        reason = f"no data for {fetch.timeout_s:g} s (--download-timeout)" if stalled else str(err)
        kept = f"; the {part.stat().st_size} bytes received are kept in '{part}'" if part.is_file() else ""
        raise WilssError(f"cannot download {archive.url} ({reason}): nothing was saved as '{path}'{kept}. Rerun "
                         "the same command to resume, or download it by other means into "
                         f"'{fetch.archives}' and rerun without --download.") from None
    os.replace(part, path)


def _locate_file(archive: Archive, fetch: Fetch) -> Path:
    path = fetch.archives / archive.filename
    downloaded = False
    if not path.is_file():
        if not fetch.download:
            folders = " or ".join(f"'{fetch.archives / folder}'" for folder in (archive.folder, *archive.also))
            instead = f" (or give {archive.instead} instead)" if archive.instead else ""
            raise WilssError(f"neither the archive '{path}' nor its extracted folder {folders} exists. Download "
                             f"{archive.url} into '{fetch.archives}', or pass --download{instead}.")
        download(archive, path, fetch)
        downloaded = True
    problem, refetch = _problem(archive, path, fetch.check_md5)
    if problem and refetch and fetch.download and not downloaded:
        log.warning("archive '%s' %s; --download fetches it again.", path, problem)
        download(archive, path, fetch)
        downloaded = True
        problem, refetch = _problem(archive, path, fetch.check_md5)
    if problem:
        raise _refuse(archive, path, problem, refetch, fetch, downloaded)
    return path


def _lacks(archive: Archive, folder: Path) -> str | None:
    """The first file pattern of a complete copy that `folder` does not match."""
    return next((pattern for pattern in archive.required if next(folder.glob(pattern), None) is None), None)


def require_complete(archive: Archive, folder: Path, given: Path) -> None:
    """Refuse a copy of `archive` (its extracted folder, or what was extracted from it) that lacks a file every
    complete copy has, naming what the user gave."""
    pattern = _lacks(archive, folder)
    if pattern is None:
        return
    if given.is_dir():
        raise WilssError(f"folder '{given}' has no '{pattern}': it is not a complete extraction of "
                         f"{archive.filename} (empty, interrupted, or another archive's folder). Delete it and "
                         f"put {archive.filename} ({archive.url}) in '{given.parent}', or extract it there again.")
    raise WilssError(f"archive '{given}' has no '{archive.prefix}{pattern}': it is not the official "
                     f"{archive.filename}, or it is incomplete. Download it again from {archive.url}.")


def extracted(archive: Archive, archives: Path) -> Path | None:
    """The user's extracted copy of `archive`: its own folder (which must be complete), else a complete folder
    another tool leaves (WILSON's images/train2017, ...)."""
    own = archives / archive.folder
    if own.is_dir():
        require_complete(archive, own, own)
        return own
    return next((archives / other for other in archive.also
                 if (archives / other).is_dir() and _lacks(archive, archives / other) is None), None)


def present(archive: Archive, archives: Path) -> bool:
    """Whether the user has `archive` in some form (checked, when used, by `locate`)."""
    return (archives / archive.filename).exists() or any(
        (archives / folder).is_dir() for folder in (archive.folder, *archive.also))


def locate(archive: Archive, fetch: Fetch) -> Path:
    """What the user has of `archive`, identified before any work: its extracted folder (complete), or the archive
    file (identified by content and, where a checksum is published, verified; fetched when missing or damaged
    and --download is given)."""
    return extracted(archive, fetch.archives) or _locate_file(archive, fetch)


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
        raise WilssError(f"archive '{path}' is {_damaged(path, err)}. Download it again from "
                         f"{archive.url}.") from None


@dataclass(frozen=True)
class Unpacked:
    """An input as a folder, and what the user gave for it (the archive file or their extracted folder)."""
    archive: Archive
    given: Path
    folder: Path

    def name(self, path: Path) -> str:
        """A file of the folder as the user knows it: in their folder, or as a member of their archive."""
        if self.given.is_dir():
            return f"'{path}'"
        return f"'{self.archive.prefix}{path.relative_to(self.folder).as_posix()}' in '{self.given}'"


def unpack(archive: Archive, given: Path, work: Path, wanted: tuple[str, ...]) -> Unpacked:
    """The archive's contents as a folder: the user's extracted folder, or the wanted members extracted into the
    work folder (once; a marker records it)."""
    if given.is_dir():
        return Unpacked(archive, given, given)
    target = work / "sources" / archive.folder
    marker = target.parent / f".{archive.filename}.done"
    stamp = json.dumps({"size": given.stat().st_size, "mtime_ns": given.stat().st_mtime_ns})
    if not (marker.is_file() and marker.read_text() == stamp):
        _extract(archive, given, target, wanted)
        write_file(marker, lambda handle: handle.write(stamp.encode()))
    require_complete(archive, target, given)
    return Unpacked(archive, given, target)


def name_in(inputs: list[Unpacked], path: Path) -> str:
    """`path`, a file of one of the unpacked inputs, as the user knows it."""
    return next(source.name(path) for source in inputs if path.is_relative_to(source.folder))

"""Caption files: the released Web-WILSS formats (one file per image folder), and `captions.tsv`, the one
file of every web image's caption that `python -m wilss.web captions` writes and training reads.

- raw captions (`web_data_cap_file`): "<file name> <caption text>" per line;
- nouns (`web_data_cap_file_NN`): "<file name> <noun> <noun> ... " (the NN-tagged words of the caption, each
  followed by a space) or "<file name> bg" when the caption has no such noun.
"""

from __future__ import annotations

from pathlib import Path

from wilss.atomic import atomic_write_bytes
from wilss.errors import WilssError

NO_NOUN = "bg"


def caption_line(file_name: str, caption: str) -> str:
    return f"{file_name} {caption}"


def noun_line(file_name: str, nouns: list[str]) -> str:
    return f"{file_name} " + ("".join(f"{noun} " for noun in nouns) if nouns else NO_NOUN)


def _lines(path: Path) -> list[tuple[int, str, str]]:
    """(line number, file name, rest) of every non-empty line."""
    if not path.is_file():
        raise WilssError(f"caption file '{path}' is missing: every image folder needs one, in the released format "
                         "'<file name> <caption>' per line. Write it, or caption the images with --backend model.")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            name, _, rest = line.partition(" ")
            rows.append((number, name, rest))
    return rows


def read_captions(path: Path) -> dict[str, str]:
    """{file name: caption} of a raw caption file."""
    return {name: rest.strip() for _, name, rest in _lines(Path(path))}


def read_nouns(path: Path) -> dict[str, list[str]]:
    """{file name: nouns} of a noun file; "bg" lines give no nouns."""
    nouns = {}
    for _, name, rest in _lines(Path(path)):
        words = rest.split()
        nouns[name] = [] if words == [NO_NOUN] else words
    return nouns


def write_captions(path: Path, web_root: Path, images: list[Path], captions: list[str]) -> None:
    """captions.tsv: "<image path relative to the web root>\\t<caption>" per line; tabs and newlines flattened."""
    lines = [f"{image.relative_to(web_root).as_posix()}\t{' '.join(caption.split())}\n"
             for image, caption in zip(images, captions)]
    payload = "".join(lines).encode()
    atomic_write_bytes(path, lambda handle: handle.write(payload))


def read_captions_tsv(path: Path) -> dict[str, str]:
    """{image path relative to the web root: caption} of a captions.tsv."""
    path = Path(path)
    if not path.is_file():
        raise WilssError(f"captions file '{path}' is missing (option --captions); make it with "
                         "`python -m wilss.web captions --web-root R --out O` (it writes O/captions.tsv).")
    rows = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        image, tab, caption = line.partition("\t")
        if not tab:
            raise WilssError(f"{path}:{number}: expected '<image path>\\t<caption>'; regenerate the file with "
                             "`python -m wilss.web captions`.")
        rows[image] = caption
    return rows

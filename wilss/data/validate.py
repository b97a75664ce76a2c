"""The data layer's front door: split lists, images and masks are read here, and whatever is wrong with them
is refused with the file (and line) and the fix, instead of surfacing later as a torch or PIL traceback.

What real datasets contain is accepted: UTF-8 BOMs, CRLF line ends and stray whitespace in lists; grayscale,
CMYK and palette images; palette or grayscale masks. Files are read as stored: an EXIF orientation tag is not
applied, because masks label the stored pixels (VOC's and SBD's do) and an image turned without its mask would
be trained on a rotated mask.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from wilss.errors import WilssError

log = logging.getLogger("wilss")

MASK_MODES = ("P", "L")   # label maps: one 8-bit id per pixel (VOC ships palette PNGs, SBD-derived ones are L)
ORIENTATION = 0x0112        # the EXIF tag; values 5-8 turn the picture by 90 degrees
TURNING_90 = (5, 6, 7, 8)
DECODE_ERRORS = (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError)


def read_list_lines(path: Path, option: str) -> list[tuple[int, str]]:
    """(line number, stripped text) of every non-blank line of a text list; binary files are refused."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")   # drops a leading BOM, which would otherwise glue onto the first path
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise WilssError(f"split list '{path}' is not a text file (option {option}); it must list one sample per "
                         "line. Point the option at the right file or regenerate it with `wilss data prepare`.")
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def confined(root: Path, relative: str, where: str) -> Path:
    """`root/relative`, refused when it leaves the dataset root (`..`, an absolute path elsewhere, a symlink
    pointing out). A leading '/' means 'from the root', as in the original's lists."""
    path = root / relative.lstrip("/")
    try:
        resolved, real_root = path.resolve(), root.resolve()
    except (RuntimeError, OSError):   # a symlink loop: RuntimeError up to Python 3.12, OSError after
        raise WilssError(f"{where}: '{relative}' is a symbolic link that leads back to itself (a symlink loop at "
                         f"'{path}'), so it names no file. Replace the link with the file itself, or remove the "
                         "line from the list.") from None
    if not resolved.is_relative_to(real_root):
        raise WilssError(f"{where}: '{relative}' points outside the dataset root '{root}' (to '{resolved}'). "
                         "Lists may only name files inside the root: fix the line, or copy the file in.")
    return path


def list_id(text: str, where: str) -> str:
    """An image id from a line of an id-style list (VOC's ImageSets, COCO's split lists), refused when it is an
    absolute path or holds a space: either would otherwise name a file that does not exist."""
    if Path(text).is_absolute():
        raise WilssError(f"{where}: '{text}' is an absolute path, but a line of one entry is an image id, which "
                         f"the kit looks up under the dataset root. Write the id alone (e.g. '{Path(text).stem}'), "
                         "or both paths relative to the root ('/JPEGImages/<id>.jpg /SegmentationClassAug/<id>.png').")
    if len(text.split()) > 1:
        raise WilssError(f"{where}: '{text}' has a space inside an image id; ids contain no spaces (VOC's read "
                         f"2007_000032). Fix the line (e.g. '{'_'.join(text.split())}'), or, for a pair of files, "
                         "give both paths with their extensions ('<image> <mask>').")
    return text


def drop_duplicates(entries: list[tuple[int, tuple[Path, ...]]], list_file: Path) -> list[tuple[Path, ...]]:
    """Entries in list order with repeated ones dropped, each drop logged with both line numbers (a repeated
    line would silently be trained twice per epoch)."""
    first_line: dict[tuple[Path, ...], int] = {}
    kept = []
    for number, entry in entries:
        if entry in first_line:
            log.warning("%s:%d repeats line %d (%s); the repeat is ignored. Remove it to silence this warning.",
                        list_file, number, first_line[entry], entry[0].name)
            continue
        first_line[entry] = number
        kept.append(entry)
    return kept


def _decoded(path: Path, kind: str) -> Image.Image:
    """The fully decoded file (so truncation shows now, not later), its pixels as stored (EXIF orientation is
    not applied: see the module's docstring)."""
    try:
        with Image.open(path) as handle:
            handle.load()
            return handle
    except FileNotFoundError:
        raise WilssError(f"{kind} '{path}' is missing; restore it or remove its line from the split list.") from None
    except DECODE_ERRORS as err:
        raise WilssError(f"{kind} '{path}' cannot be decoded ({err}); the file is damaged or not an image. "
                         "Replace it with a good copy (re-extract it from the archive) or remove its line from "
                         "the split list.") from None


def open_image(path: Path) -> Image.Image:
    """An RGB image, whatever the file's colour mode (grayscale, CMYK, palette, with alpha)."""
    return _decoded(Path(path), "image").convert("RGB")


def open_mask(path: Path) -> np.ndarray:
    """A label map as an (H, W) uint8 array of raw ids (palette masks give their indices, not colours)."""
    mask = _decoded(Path(path), "mask")
    if mask.mode not in MASK_MODES:
        raise WilssError(f"mask '{path}' has mode {mask.mode}; masks are single-channel label PNGs (mode P or L) "
                         "holding one class id per pixel. Convert colour-coded masks to ids, or point the list at "
                         "the label maps.")
    return np.array(mask)   # writable: torch.from_numpy shares it


def open_pair(image_path: Path, mask_path: Path) -> tuple[Image.Image, np.ndarray]:
    """An image and its mask, which must cover it pixel for pixel."""
    image, mask = open_image(image_path), open_mask(mask_path)
    if mask.shape != (image.height, image.width):
        hint = ""
        if mask.shape == (image.width, image.height) and image.getexif().get(ORIENTATION, 1) in TURNING_90:
            hint = (" The mask fits the image turned by its EXIF orientation tag, but masks must label the pixels "
                    "as stored (as VOC's do): save the image upright without the tag (e.g. PIL's "
                    "ImageOps.exif_transpose), or turn the mask back.")
        raise WilssError(f"image '{image_path}' is {image.width}x{image.height} but its mask '{mask_path}' is "
                         f"{mask.shape[1]}x{mask.shape[0]}; they must match. Replace the mask or remove the line."
                         + hint)
    return image, mask

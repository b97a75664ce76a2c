"""The Pascal VOC colour map, shared by the mask files we write and the masks we render in TensorBoard."""

from __future__ import annotations

import numpy as np


def voc_colormap(n: int = 256) -> np.ndarray:
    """(n, 3) uint8 colours of label ids 0..n-1, as in the VOC development kit.

    The bits of the id are dealt out in turn to red, green and blue, most significant colour bit first, so
    small ids get well separated colours (1 dark red, 2 dark green, ...) and 255 (void) is near white.
    """
    ids = np.arange(n, dtype=np.int64)
    colours = np.zeros((n, 3), dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            colours[:, channel] |= ((ids >> (3 * bit + channel)) & 1) << (7 - bit)
    return colours.astype(np.uint8)

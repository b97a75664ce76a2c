"""Where a weak step's pseudo-labels of the new classes come from (`method.pseudo_labels`): each module of this
package registers a builder in `PSEUDO_LABELS` (`registry.py`). A source is built from the method config and called
every iteration as `source(images, localizer_logits, labels) -> (m, m_refined)`: per-pixel class scores (B, C, h, w)
at feature resolution, zero for classes absent from the image-level labels; `m` becomes the segmentation
targets (docs/method.md, "Pseudo-labels"), `m_refined` the localizer's own hard targets. Adding one: a module here
(listed in `_builtin`) or a `wilss.pseudo_labels` entry point of your own package (docs/design.md).
"""

from __future__ import annotations

from wilss.methods.pseudo_labels.registry import PSEUDO_LABELS

__all__ = ["PSEUDO_LABELS"]


@PSEUDO_LABELS.builtin
def _builtin() -> None:
    from wilss.methods.pseudo_labels import localizer  # noqa: F401 (it registers)

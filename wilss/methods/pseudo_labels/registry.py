"""The registry of pseudo-label sources, in a module of its own: the built-in sources import it, and the
package's `__init__` imports the built-in sources, so neither imports the other back."""

from __future__ import annotations

from collections.abc import Callable

import torch

from wilss.registry import Registry

PseudoLabelSource = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

PSEUDO_LABELS: Registry[Callable[..., PseudoLabelSource]] = Registry(
    "pseudo-label source", __package__, "method.pseudo_labels", group="wilss.pseudo_labels")

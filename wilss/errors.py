"""User-facing errors: one clear paragraph and a non-zero exit, never a deep traceback."""

from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

T = TypeVar("T")


class WilssError(Exception):
    """A problem with the user's input (data, config, checkpoint) that names the culprit and the fix."""


class MissingDependency(WilssError):
    """An optional package that the chosen configuration needs is not installed (e.g. timm for its backbones)."""

    @classmethod
    def timm(cls, backbone: str) -> MissingDependency:
        return cls(f"model.backbone={backbone} needs the optional package timm, which is not installed: pip install "
                   "'wilss[timm]'.")


def user_message(err: WilssError) -> str:
    """The error's own paragraph. A `WilssError` raised in a DataLoader worker comes back wrapped in the
    worker's traceback text; only its last part is the user's message."""
    message = str(err)
    marker = f"{WilssError.__name__}: "
    if "Original Traceback" in message and marker in message:
        return message.rsplit(marker, 1)[1].strip()
    return message


def exit_on_user_error(main: Callable[..., T]) -> Callable[..., T]:
    """Wrap a command-line entry point: print a `WilssError` as one paragraph and exit with status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except WilssError as err:
            print(f"wilss: error: {user_message(err)}", file=sys.stderr)
            sys.exit(2)

    return wrapper

"""What every `python -m wilss.<command>` shares: reading Hydra overrides from the command line."""

from __future__ import annotations

import sys


def read_overrides(argv: list[str] | None, usage: str) -> list[str] | None:
    """The command's arguments, or None once the usage text was printed for -h/--help."""
    args = sys.argv[1:] if argv is None else list(argv)
    if "-h" in args or "--help" in args:
        print(usage)
        return None
    return args

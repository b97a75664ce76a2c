"""What every `python -m wilss.<command>` shares: reading Hydra overrides from the command line."""

from __future__ import annotations

import re
import sys

# Hydra's flag for a sweep; the kit sweeps comma-separated values without it (`seed=0,1`), so it changes nothing.
MULTIRUN_FLAGS = ("-m", "--multirun")


def as_invoked(usage: str) -> str:
    """The usage text with the command named as the user typed it: `wilss chain` from the console script, which
    sets argv[0] so; `python -m wilss.chain` otherwise."""
    invoked = sys.argv[0] if sys.argv and sys.argv[0].startswith("wilss ") else None
    own = re.search(r"python -m wilss\.[\w.]+", usage)  # the first: the command itself
    return usage.replace(own.group(0), invoked) if invoked and own else usage


def read_overrides(argv: list[str] | None, usage: str) -> list[str] | None:
    """The command's overrides, or None once the usage text was printed for -h/--help."""
    args = sys.argv[1:] if argv is None else list(argv)
    if "-h" in args or "--help" in args:
        print(as_invoked(usage))
        return None
    return [arg for arg in args if arg not in MULTIRUN_FLAGS]

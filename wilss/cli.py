"""What every `python -m wilss.<command>` shares: reading Hydra overrides and Hydra's flags from the command line."""

from __future__ import annotations

import re
import sys

from wilss.errors import WilssError

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


def split_cfg_flags(args: list[str]) -> tuple[list[str], bool | None]:
    """Hydra's `--cfg [job|all]` and `--resolve`: (the overrides, whether to resolve interpolations in the printed
    configuration), or (the overrides, None) without --cfg. (`all` would add Hydra's own run configuration, which
    the kit does not use; `--cfg hydra` is refused for that.)"""
    if "--cfg" not in args:
        if "--resolve" in args:
            raise WilssError("--resolve only goes with --cfg (as in Hydra): add --cfg job to print the configuration "
                             "with its interpolations resolved.")
        return args, None
    at = args.index("--cfg")
    which = args[at + 1] if at + 1 < len(args) and args[at + 1] in ("job", "hydra", "all") else None
    if which == "hydra":
        raise WilssError("--cfg hydra: the kit composes its configuration without Hydra's run configuration; "
                         "--cfg (or --cfg job) prints the job's.")
    rest = args[:at] + args[at + (2 if which else 1):]
    return [arg for arg in rest if arg != "--resolve"], "--resolve" in rest

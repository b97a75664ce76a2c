"""Compose and check the configuration of one step (`wilss.spec.resolve` then derives the chain's facts from it).

The Hydra compose API builds the config from the packaged `wilss/configs/`, a lab's own config folders (searched
after the packaged ones: WILSS_CONFIG_PATH, or `hydra.searchpath=[...]`) and command-line overrides; `validate` checks the
cross-field rules once, before anything runs (so a typo fails in seconds, not after the queue); the resolved
config is then saved in the step directory and is the single source of truth for that step.
"""

from __future__ import annotations

import difflib
import os
import typing
from collections.abc import Callable
from enum import Enum
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException, ValidationError

from wilss.cli import split_cfg_flags
from wilss.data.datasets import DATASETS
from wilss.data.tasks import get_task
from wilss.errors import WilssError
from wilss.schema import RANGES, field_names, leaf_type, method_problem

CONFIG_DIR = Path(__file__).resolve().parent / "configs"  # shipped inside the package (wheel and sdist)
SEARCH_PATH_ENV = "WILSS_CONFIG_PATH"  # os.pathsep-separated folders of site configs (cluster presets, dataset roots)
METHOD_FLAGS = ("labels", "recipe", "init")  # the flags a method may need fixed (wilss.schema.MethodNeeds)


def site_config_dirs() -> list[Path]:
    """The folders named in WILSS_CONFIG_PATH, each checked so a typo fails here and not as "no option"."""
    dirs = [Path(entry).expanduser().resolve() for entry in os.environ.get(SEARCH_PATH_ENV, "").split(os.pathsep) if entry]
    for folder in dirs:
        if not folder.is_dir():
            raise WilssError(f"{SEARCH_PATH_ENV} names '{folder}', which is not a folder: fix or unset {SEARCH_PATH_ENV}.")
    return dirs


def search_path_overrides(overrides: list[str]) -> list[str]:
    """Hydra's own `hydra.searchpath` override for the site folders; an explicit one on the command line wins."""
    dirs = site_config_dirs()
    if not dirs or any(o.lstrip("+").startswith("hydra.searchpath=") for o in overrides):
        return []
    return [f"hydra.searchpath=[{','.join(f'file://{folder}' for folder in dirs)}]"]


def load_config(overrides: list[str], config_name: str = "train") -> DictConfig:
    """Compose `configs/<config_name>.yaml` with Hydra overrides (`key=value`, `group=option`), typed by the
    schema (`wilss.schema`), and return it with plain values (enumerations as their names, as the files say)."""
    if not CONFIG_DIR.is_dir():
        raise WilssError(f"config folder '{CONFIG_DIR}' is missing; the installed package is incomplete: reinstall wilss (pip install --force-reinstall wilss).")
    try:
        check_overrides(overrides)
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            typed = compose(config_name=config_name, overrides=[*search_path_overrides(overrides), *overrides])
    except (HydraException, OmegaConfBaseException) as err:
        raise WilssError(_composition_message(err, overrides)) from None
    cfg = OmegaConf.create(OmegaConf.to_container(typed, enum_to_str=True))
    OmegaConf.set_struct(cfg, True)
    validate(cfg)
    return cfg


def _composition_message(err: Exception, overrides: list[str]) -> str:
    """Hydra's refusal in one paragraph; a config file's value of the wrong type (the schema's check at
    composition) named as the option and the file, without OmegaConf's node dump."""
    typed = err.__cause__ or err.__context__
    if isinstance(typed, ValidationError) and typed.full_key:
        where = str(err).partition(": ")[0]  # In 'train/mine'
        return (f"invalid option {typed.full_key} ({where}): {typed.msg.splitlines()[0]}. Fix the override "
                "(key=value) or the config file.")
    message = str(err).split("\nConfig search path")[0].strip()
    return f"invalid configuration ({' '.join(overrides) or 'defaults'}): {message}"


def check_overrides(overrides: list[str]) -> None:
    """The command line's own mistakes, all at once, before Hydra composes: a group chosen by a number, an
    option the schema lacks (`+` included), a value of the wrong type or range. Hydra would take `yes` for true,
    155 for a name, and add `+train.epochz` silently."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    folders = _config_folders(parsed)
    problems = []
    for override in parsed:
        key, value = override.key_or_group, override.value()
        if override.is_sweep_override():  # chain and submit expand sweeps into points before composing
            problems.append(f"{override.input_line} sweeps, but one configuration takes one value: sweep with wilss "
                            "chain or wilss submit, or quote a text value (key='a,b')")
        elif any((folder / key).is_dir() for folder in folders):
            _check_group_choice(override.input_line, key, value)
        elif not override.is_delete():
            problems.append(_unknown_option(override.input_line, key) or _value_problem(key, value))
    _refuse([problem for problem in problems if problem])


def _config_folders(parsed: list) -> list[Path]:
    """Where config groups are: the package's, the site's, and a `hydra.searchpath=[file://...]` override's."""
    searched = [o.value() for o in parsed if o.key_or_group == "hydra.searchpath" and isinstance(o.value(), list)]
    return [CONFIG_DIR, *site_config_dirs(), *(Path(entry.removeprefix("file://")) for paths in searched
                                                for entry in paths if entry.startswith("file://"))]


def _check_group_choice(override: str, group: str, value) -> None:
    """A config group (task=, dataset=, ...) is chosen by name; a name that reads as a number (15_5 is 155 to
    Hydra) would otherwise end in Hydra's own traceback."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        choices = sorted(path.stem for path in (CONFIG_DIR / group).glob("*.yaml"))
        text = override.partition("=")[2]
        raise WilssError(f"{override}: '{text}' reads as a number, but {group} is chosen by name; choose one of "
                         f"{choices} (e.g. {group}={choices[0]}).")


def _unknown_option(override: str, key: str) -> str | None:
    """An option the schema lacks, with the closest ones it has (a prefix counts: epochz -> epochs_base)."""
    parent, _, leaf = key.rpartition(".")
    names = field_names(parent)
    if names is None or leaf in names:
        return None
    ranked = sorted(names, key=lambda name: _likeness(leaf, name), reverse=True)
    close = [f"{parent}.{name}".lstrip(".") for name in ranked if _likeness(leaf, name) >= 0.75]
    hint = f"did you mean {' or '.join(close[:3])}?" if close else f"it has {', '.join(names)}."
    return f"{override}: {parent or 'the configuration'} has no option '{leaf}'; {hint} (--cfg prints every option)"


def _likeness(typed: str, name: str) -> float:
    return max(difflib.SequenceMatcher(None, typed, candidate).ratio() for candidate in (name, name[:len(typed)]))


_KINDS = {bool: ((bool,), "true or false"), int: ((int,), "an integer"), float: ((int, float), "a number"),
          str: ((str,), "a name or path (text: quote values that read as numbers, e.g. '15-5')")}


def _value_problem(key: str, value) -> str | None:
    """`key=value must be ...` when the schema's type (strictly: no 'yes' for true) or `RANGES` refuses it."""
    kind, bound = leaf_type(key), RANGES.get(key)
    optional = typing.get_origin(kind) is typing.Union  # Optional[T]
    if optional:
        if value is None:
            return None
        kind = typing.get_args(kind)[0]
    is_enum = isinstance(kind, type) and issubclass(kind, Enum)
    types, wanted = (str, f"one of {[member.name for member in kind]}") if is_enum else _KINDS.get(kind, (None, ""))
    typed = types is None or (isinstance(value, types) and (kind is bool or not isinstance(value, bool))
                              and value != "")
    allowed = typed and (not is_enum or value in kind.__members__) and (bound is None or bound.accepts(value))
    if allowed:
        return None
    wanted = ("null or " if optional else "") + str(bound or wanted)
    return f"{key}={value if typed else repr(value)} must be {wanted}"  # repr: shows text where a number was due


def _refuse(problems: list[str]) -> None:
    if problems:
        raise WilssError("invalid option" + ("s" if len(problems) > 1 else "") + ": " + "; ".join(problems)
                         + ". Fix the override (key=value) or the config file.")


def check_values(cfg: DictConfig) -> None:
    """The ranges of `RANGES` on the composed values (a config file's too), all reported at once: a crop of 0 or
    a learning rate of -1 would otherwise fail deep inside torch, or not at all."""
    present = [(key, OmegaConf.select(cfg, key, default=_ABSENT)) for key in RANGES]
    _refuse([problem for key, value in present if value is not _ABSENT and (problem := _value_problem(key, value))])


_ABSENT = object()


def validate(cfg: DictConfig) -> None:
    """Ranges, then the rules across options, each failing with the option to change."""
    check_values(cfg)
    get_task(cfg.dataset.name, cfg.task.name, cfg.step)
    if cfg.overlap and not DATASETS.get(cfg.dataset.name).overlap:
        raise WilssError(f"overlap=true is not defined for dataset={cfg.dataset.name} (disjoint by construction); "
                         "drop it.")
    for flag in METHOD_FLAGS:
        problem = method_problem(cfg.method.name, flag, cfg.method[flag])
        if problem:
            raise WilssError(problem)


def eval_batch_size(cfg: DictConfig) -> int:
    """Whole images differ in size, so full-image evaluation goes one image at a time."""
    return 1 if cfg.eval.mode == "full" else cfg.eval.batch_size


def to_yaml(cfg: DictConfig, resolve: bool = True) -> str:
    return OmegaConf.to_yaml(cfg, resolve=resolve)


def printed_config(args: list[str], expand_sweep: Callable[[list[str]], object] | None = None) -> bool:
    """Hydra's `--cfg [job|all] [--resolve]`: print the composed configuration instead of running; True when it
    did. A sweep (chain, submit: `expand_sweep` is `wilss.sweep.expand`) prints each point's configuration under a
    `# key=value ...` line; Hydra itself refuses --cfg with --multirun, but the kit sweeps without -m."""
    overrides, resolve = split_cfg_flags(args)
    if resolve is None:
        return False
    sweeps = expand_sweep and any(o.is_sweep_override() for o in OverridesParser.create().parse_overrides(overrides))
    points = [(p.values, list(p.overrides)) for p in expand_sweep(overrides).points] if sweeps else [((), overrides)]
    for values, point in points:
        print(*(["# " + " ".join(values)] if sweeps else []), to_yaml(load_config(point), resolve), sep="\n")
    return True

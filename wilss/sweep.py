"""Sweeps of whole chains: Hydra sweep values (`seed=0,1,2 method=wilson,ft`, `seed=range(3)`) on the command
line of `wilss chain` or `wilss submit` expand into points, the cartesian product of the values; each point is
one chain with its own run directory.

A sweep directory (`sweep_dir=`, default `<output_root>/sweeps/<dataset>-<name>`) is laid out by
`wilss.layout.SweepLayout`: sweep.json, a run directory per point (points/<point>/, whose step0 links into
shared/) and per shared step 0 (shared/step0-<key>/), the report (report/) and the arrays' job files (jobs/).

Step 0 is shared: points that differ only in what later steps use (method, replay, web, incremental epochs
and learning rates, ...) point to one step-0 run, keyed by a hash of the resolved step-0 configuration.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Transformer
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from wilss.atomic import atomic_write_bytes
from wilss.config import load_config
from wilss.errors import WilssError
from wilss.layout import SweepLayout
from wilss.spec import resolve

# Resolved keys that step 0 never reads: points differing only in these share one step 0. Locations are left
# out too (the data's location stays in, resolved, through dataset.root).
NOT_STEP0 = ("name", "run_dir", "sweep_dir", "output_root", "step", "step_ckpt", "cluster", "launch", "method",
             "replay", "web", "train.epochs_incremental", "optim.incremental")
# Options that may change between two submissions of one sweep: how it runs, not what it computes.
RESUBMIT_KEYS = ("launch.", "cluster=")
REFUSED_IN_SWEEP = {"run_dir": "every point gets its own run directory under sweep_dir=",
                    "step": "each point is a whole chain",
                    "step_ckpt": "step 1 of a point starts from the point's own step 0"}


@dataclass(frozen=True)
class Point:
    name: str
    values: tuple[str, ...]     # this point's sweep values, key=value
    overrides: tuple[str, ...]  # base overrides, the values and sweep_dir; no run_dir
    length: int                 # steps of its chain


@dataclass
class Sweep:
    directory: Path
    points: list[Point]
    step0_keys: dict[str, str] = field(default_factory=dict)  # point name -> key of its shared step 0

    @property
    def layout(self) -> SweepLayout:
        return SweepLayout(self.directory)

    def point_dir(self, point: Point) -> Path:
        return self.layout.point(point.name).root

    def shared_dir(self, point: Point) -> Path:
        """The run directory that holds the point's (shared) step 0."""
        return self.layout.shared(self.step0_keys[point.name]).root

    def overrides_for(self, point: Point, step: int) -> list[str]:
        """Overrides of one step of a point, without `step=`: step 0 runs in its shared run directory."""
        directory = self.shared_dir(point) if step == 0 else self.point_dir(point)
        return [*point.overrides, f"run_dir={directory}"]

    def groups(self) -> dict[str, list[Point]]:
        """Points by shared step 0, in the order of the points."""
        found: dict[str, list[Point]] = {}
        for point in self.points:
            found.setdefault(self.step0_keys[point.name], []).append(point)
        return found


def _parse(overrides: list[str]):
    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as err:
        raise WilssError(f"invalid override in '{' '.join(overrides)}': {err}") from None


def _value_text(value) -> str:
    """A sweep value as it is written back into one override (quoted strings stay quoted)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def sweep_axes(overrides: list[str]) -> tuple[list[str], list[list[str]]]:
    """(plain overrides, one list of `key=value` per swept key), by Hydra's override grammar."""
    base, axes = [], []
    for override in _parse(overrides):
        key = override.get_key_element()
        if key.lstrip("+~") in REFUSED_IN_SWEEP:
            raise WilssError(f"'{override.input_line}' cannot be part of a sweep: "
                             f"{REFUSED_IN_SWEEP[key.lstrip('+~')]}.")
        if not override.is_sweep_override():
            base.append(override.input_line)
        elif override.is_interval_sweep():
            raise WilssError(f"'{override.input_line}': an interval has no list of values to sweep; use "
                             "range(start,stop[,step]) or a,b,c.")
        else:
            axes.append([f"{key}={_value_text(v)}" for v in override.sweep_iterator(transformer=Transformer.encode)])
    return base, axes


def is_sweep(overrides: list[str]) -> bool:
    return any(override.is_sweep_override() for override in _parse(overrides))


def point_name(assignments: tuple[str, ...]) -> str:
    """A directory name that says the point's values: `method-ft_seed-1`."""
    parts = [a.lstrip("+~").replace("=", "-", 1) for a in assignments]
    return "_".join(part.replace("/", "%").replace("'", "").replace('"', "") for part in parts) or "default"


def step0_key(cfg: DictConfig) -> str:
    """A hash of everything step 0 reads in a point's resolved configuration."""
    config = OmegaConf.to_container(cfg, resolve=True)
    for dotted in NOT_STEP0:
        *parents, leaf = dotted.split(".")
        node = config
        for parent in parents:
            node = node.get(parent, {})
        node.pop(leaf, None)
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def default_sweep_dir(base: list[str]) -> Path:
    cfg = load_config(base)
    return Path(cfg.sweep_dir) if cfg.sweep_dir else Path(cfg.output_root) / "sweeps" / f"{cfg.dataset.name}-{cfg.name}"


def expand(overrides: list[str]) -> Sweep:
    """The sweep's points, each with its chain length and step-0 key (composes each point's config once)."""
    base, axes = sweep_axes(overrides)
    directory = default_sweep_dir(base).absolute()
    sweep = Sweep(directory, [])
    for assignments in itertools.product(*axes):
        located = [o for o in base if not o.startswith("sweep_dir=")]  # replaced by the absolute path
        point_overrides = (*located, *assignments, f"sweep_dir={directory}")
        cfg = load_config(list(point_overrides))
        point = Point(point_name(assignments), assignments, point_overrides, len(resolve(cfg).steps))
        sweep.points.append(point)
        sweep.step0_keys[point.name] = step0_key(cfg)  # a sweep has no step=: cfg is step 0's
    names = [point.name for point in sweep.points]
    if len(set(names)) != len(names):
        raise WilssError(f"two points of the sweep get the same directory name ({names}); write the values "
                         "differently.")
    return sweep


def read_sweep_file(directory: Path) -> dict:
    path = SweepLayout(Path(directory)).sweep_file
    return json.loads(path.read_text()) if path.is_file() else {}


def _computing(overrides: list[str]) -> list[str]:
    return [o for o in overrides if not o.startswith(RESUBMIT_KEYS)]


def prepare(sweep: Sweep) -> None:
    """Create the point directories and their step-0 links, and record the points in sweep.json. A sweep
    directory may gain points (more values, other settings), but a point keeps what it computes."""
    recorded = read_sweep_file(sweep.directory).get("points", {})
    for point in sweep.points:
        before = recorded.get(point.name, {}).get("overrides")
        if before is not None and _computing(before) != _computing(list(point.overrides)):
            raise WilssError(f"point '{point.name}' of '{sweep.directory}' was submitted with other overrides "
                             f"({' '.join(_computing(before))}); choose another sweep_dir= for these, or submit "
                             "the same overrides again.")
        if before is not None:  # the same point keeps its step 0, even if a newer wilss hashes its config anew
            sweep.step0_keys[point.name] = recorded[point.name]["step0"]
        link_step0(sweep, point)
    points = {**recorded, **{p.name: {"overrides": list(p.overrides), "values": list(p.values), "length": p.length,
                                      "step0": sweep.step0_keys[p.name]} for p in sweep.points}}
    payload = json.dumps({"points": points}, indent=2).encode()
    atomic_write_bytes(sweep.layout.sweep_file, lambda handle: handle.write(payload))


def link_step0(sweep: Sweep, point: Point) -> None:
    """<point>/step0 -> ../../shared/step0-<key>/step0 (relative: the sweep directory may move)."""
    link = sweep.point_dir(point) / "step0"
    target = os.path.relpath(sweep.shared_dir(point) / "step0", link.parent)
    link.parent.mkdir(parents=True, exist_ok=True)
    sweep.shared_dir(point).joinpath("step0").mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and os.readlink(link) != target:
        raise WilssError(f"'{link}' links to another step 0 ({os.readlink(link)}) than this sweep's point "
                         f"needs; remove '{sweep.point_dir(point)}' or choose another sweep_dir=.")
    if not link.is_symlink():
        if link.exists():
            raise WilssError(f"'{link}' is a directory, not the link to the shared step 0; remove it.")
        link.symlink_to(target, target_is_directory=True)


def recorded_points(directory: Path) -> dict[str, dict]:
    """The points sweep.json records (name -> overrides, length, step-0 key); an error if it is no sweep."""
    recorded = read_sweep_file(directory)
    if not recorded:
        raise WilssError(f"'{directory}' is not a sweep directory (no sweep.json).")
    return recorded["points"]

"""The checks of a run before it starts: `wilss doctor [overrides]` runs them all, `wilss submit` the quick,
torch-free part of each before it queues anything (`launch.preflight=false` skips them).

A check is a function `check(cfg) -> list[str]`: one line per problem, each naming the file or option at fault
and the fix; it raises `Skipped` (with the reason) when this run gives it nothing to look at, so that nothing
unchecked reads as passed. Checks look at the steps of the chain that have not finished yet (a finished step needs neither
its data nor the ImageNet weights again). Adding a check is one row of CHECKS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from omegaconf import DictConfig

from wilss.errors import WilssError
from wilss.preflight import dataset, environment, outputs, slurm, weights
from wilss.preflight.skip import Skipped


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[DictConfig], list[str]]  # every aspect: what `wilss doctor` runs
    # What `wilss submit` runs before every submission, None for nothing: a second or two, no dataset scan or
    # checksum, and no torch (a login node need not load it; building a model or loading the extension does).
    before_submit: Callable[[DictConfig], list[str]] | None


CHECKS: tuple[Check, ...] = (
    Check("torch / CUDA / InPlace-ABN", environment.problems, environment.installed_problems),
    Check("the model builds (optional packages such as timm)", environment.model_problems,
          environment.optional_package_problems),
    Check("dataset layout and split lists", dataset.layout_problems, dataset.layout_problems),
    # quick once `wilss data check` (or an earlier run) has cached the verdict; a first look decodes the dataset
    Check("every image and mask decodes", dataset.decode_problems, dataset.decode_problems),
    Check("per-step subset sizes", dataset.subset_problems, None),
    Check("ImageNet weights present", weights.presence_problems, weights.presence_problems),
    Check("ImageNet weights md5", weights.checksum_problems, None),
    Check("output directory and free space", outputs.problems, outputs.writable_problems),
    Check("Slurm", slurm.problems, slurm.problems),
)


@dataclass(frozen=True)
class Outcome:
    name: str
    problems: list[str]
    skipped: str | None = None  # why the check had nothing to look at (then no problems)


def run_checks(cfg: DictConfig, before_submit: bool = False) -> Iterator[Outcome]:
    """The outcome of every check (or of what submit runs of each), in order, as each finishes; a check that
    cannot run (a WilssError) reports that as its problem, one with nothing to look at for this run (`Skipped`)
    says why."""
    for check in CHECKS:
        run = check.before_submit if before_submit else check.run
        if run is None:
            continue
        try:
            yield Outcome(check.name, run(cfg))
        except Skipped as skipped:
            yield Outcome(check.name, [], str(skipped))
        except WilssError as err:
            yield Outcome(check.name, [str(err)])


def require(cfg: DictConfig) -> None:
    """The checks as `wilss submit` runs them: any problem stops the submission with every problem listed."""
    problems = [f"  {outcome.name}: {problem}" for outcome in run_checks(cfg, before_submit=True)
                for problem in outcome.problems]
    if problems:
        raise WilssError("the run would fail; nothing was queued:\n" + "\n".join(problems) +
                         "\n(`wilss doctor` with the same overrides runs every check; launch.preflight=false skips them)")

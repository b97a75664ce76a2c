"""Check a run before it starts: `wilss doctor [overrides]`, with the overrides of `wilss chain` / `wilss submit`.

Checks the environment (torch, CUDA, driver, InPlace-ABN), the dataset (layout, split lists, each pending step's
subset size against the published index), the ImageNet weights (present, md5), the output directory (writable,
room for the checkpoints) and, when the run goes to Slurm, the commands, the partition and whether the resources
fit a node. Prints one line per problem with its fix; exit status 1 when the run would fail.

`wilss doctor --inplace-abn` checks only the compiled InPlace-ABN extension (a missing or mismatched extension is
an error, and the layer is compared with the native norm layer on the CPU): scripts/build_inplace_abn.sh and the
container images run it.
"""

from __future__ import annotations

import argparse
import sys

import torch
from omegaconf import OmegaConf

from wilss.config import load_config, printed_config
from wilss.spec import run_dir
from wilss.errors import exit_on_user_error
from wilss.preflight import Outcome, run_checks
from wilss.preflight.environment import facts, inplace_abn_problems
from wilss.preflight.steps import pending_steps, runs_here


def cpu_parity() -> float:
    """Largest difference between InPlaceABN and BatchNorm + leaky ReLU (forward and input gradient), float64."""
    from inplace_abn import InPlaceABN

    torch.manual_seed(0)
    x = torch.randn(4, 8, 5, 5, dtype=torch.float64)
    ours = InPlaceABN(8, activation="leaky_relu", activation_param=0.01).double()
    native = torch.nn.BatchNorm2d(8).double()
    with torch.no_grad():
        ours.weight.uniform_(0.5, 1.5)
        ours.bias.uniform_(-0.5, 0.5)
        native.weight.copy_(ours.weight.abs() + ours.eps)  # InPlace-ABN's effective scale is |gamma| + eps
        native.bias.copy_(ours.bias)
    grads = []
    for layer, act in ((ours, lambda y: y), (native, lambda y: torch.nn.functional.leaky_relu(y, 0.01))):
        inp = x.clone().requires_grad_(True)
        out = act(layer(inp * 1.0))  # InPlace-ABN overwrites its input: feed it a copy
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        grads.append((out.detach(), inp.grad))
    return max((grads[0][0] - grads[1][0]).abs().max().item(), (grads[0][1] - grads[1][1]).abs().max().item())


def check_inplace_abn() -> int:
    found, problems = inplace_abn_problems()
    for fact in found:
        print(fact)
    if not problems:
        difference = cpu_parity()
        print(f"inplace_abn vs native norm on the CPU: max difference {difference:.1e}")
        if difference > 1e-5:
            problems.append(f"inplace_abn differs from the native norm layer by {difference:.1e} (> 1e-5)")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def outcome_lines(outcome: Outcome) -> str:
    if outcome.skipped:
        return f"skip  {outcome.name}: {outcome.skipped}"
    return "\n".join(f"FAIL  {outcome.name}: {problem}" for problem in outcome.problems) or f"ok    {outcome.name}"


def check_run(overrides: list[str], command: str) -> int:
    cfg = load_config(overrides)
    if command == "chain":  # `wilss chain` trains every step here, whatever cluster= says
        OmegaConf.update(cfg, "cluster", "local")
    steps = pending_steps(cfg)
    print(f"run {run_dir(cfg)} as `wilss {command}` starts it: step(s) "
          f"{', '.join(map(str, steps)) or 'none (all finished)'} to train "
          f"{'on this machine' if runs_here(cfg) else 'on Slurm'}"
          + (" (--for chain: as `wilss chain` trains it here)" if command == "submit" else ""))
    failed = 0
    for outcome in run_checks(cfg):
        print(outcome_lines(outcome), flush=True)
        failed += len(outcome.problems)
    print(f"{failed} problem(s): the run would fail" if failed else "all checks passed")
    return 1 if failed else 0


HYDRA_FLAGS = ("--cfg", "job", "all", "--resolve")  # Hydra's --cfg [job|all] [--resolve], as on wilss chain


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wilss doctor", description=__doc__.split("\n\n")[0],
                                     epilog="Overrides are those of wilss chain / submit (key=value, group=option). --cfg [job|all] "
                                            "[--resolve] prints the configuration the checks compose and exits.")
    parser.add_argument("--inplace-abn", action="store_true", help="check only the compiled InPlace-ABN extension")
    parser.add_argument("--for", dest="command", choices=("chain", "submit"), default="submit",
                        help="the command that will start the run: `wilss chain` trains here (no Slurm check), "
                             "`wilss submit` (the default) queues it where cluster= says")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the run to check")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args([arg for arg in argv if arg not in HYDRA_FLAGS])
    if printed_config([*args.overrides, *(arg for arg in argv if arg in HYDRA_FLAGS)]):
        return 0
    for fact in facts():
        print(fact)
    return check_inplace_abn() if args.inplace_abn else check_run(args.overrides, args.command)


if __name__ == "__main__":
    sys.exit(main())

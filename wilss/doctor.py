"""Check the environment a run depends on: `python -m wilss.doctor [--inplace-abn]`.

Prints torch, its CUDA, the visible GPUs and, when installed, the InPlace-ABN extension: the CUDA release its
kernels were compiled with (nvcc writes it into the binary) must be torch's, or the kernels fail to load or
crash at run time — the most common problem users of the original code report. With `--inplace-abn` a missing
or mismatched extension is an error (exit 1); the layer is also run on the CPU and compared with the native
norm layer. Used by scripts/build_inplace_abn.sh and the container images' checks.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch

NVCC_RELEASE = re.compile(rb"Cuda compilation tools, release (\d+\.\d+)")


def extension_cuda_release(library: Path) -> str | None:
    """The CUDA release the extension's kernels were compiled with; None for a CPU-only build."""
    match = NVCC_RELEASE.search(Path(library).read_bytes())
    return match.group(1).decode() if match else None


def inplace_abn_problems() -> tuple[list[str], list[str]]:
    """(facts, problems) about the installed inplace_abn."""
    try:
        from inplace_abn import _backend
    except ImportError as err:
        return [], [f"inplace_abn cannot be imported ({err}); build it with scripts/build_inplace_abn.sh"]
    built_with = extension_cuda_release(Path(_backend.__file__))
    facts = [f"inplace_abn: {_backend.__file__}", f"inplace_abn kernels compiled with CUDA {built_with or 'none (CPU)'}"]
    problems = []
    if torch.version.cuda and built_with != torch.version.cuda:
        problems.append(f"inplace_abn was compiled with CUDA {built_with or 'none'} but torch {torch.__version__} uses "
                        f"CUDA {torch.version.cuda}: rebuild it with scripts/build_inplace_abn.sh against this torch")
    return facts, problems


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inplace-abn", action="store_true", help="require a working, matching InPlace-ABN")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda or 'none'}, "
          f"{torch.cuda.device_count()} GPU(s) visible, python {sys.version.split()[0]}")
    facts, problems = inplace_abn_problems()
    for fact in facts:
        print(fact)
    if args.inplace_abn and not problems:
        difference = cpu_parity()
        print(f"inplace_abn vs native norm on the CPU: max difference {difference:.1e}")
        if difference > 1e-5:
            problems.append(f"inplace_abn differs from the native norm layer by {difference:.1e} (> 1e-5)")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems and args.inplace_abn else 0


if __name__ == "__main__":
    sys.exit(main())

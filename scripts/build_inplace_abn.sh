#!/usr/bin/env bash
# Compile inplace-abn 1.1.0 (PyPI ships only an sdist) against the torch that is already installed, build a wheel,
# install it into the same Python environment and check that it works. This is the only place that builds it;
# `model.norm=native` needs none of this and loads the same checkpoints.
#
# Usage: PYTHON=/path/to/venv/bin/python scripts/build_inplace_abn.sh [--out-dir DIR]   (wheel dir, default dist/)
# The environment needs torch and wilss's dependencies (pip install wilss first): the check at the end is wilss doctor.
#
# Environment (all optional):
#   PYTHON                 interpreter of the target environment (default: `python` on PATH)
#   CUDA_HOME              CUDA toolkit root (default: /usr/local/cuda if it has bin/nvcc, else from nvcc on PATH)
#   TORCH_CUDA_ARCH_LIST   GPU architectures (default: the visible GPU's; with none visible, docker/versions.env's)
#   MAX_JOBS               parallel compile jobs (default: number of CPU cores)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUESTED_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-}"
# shellcheck source=docker/versions.env
source "$REPO/docker/versions.env"  # INPLACE_ABN_VERSION, and the images' TORCH_CUDA_ARCH_LIST
IABN_VERSION="$INPLACE_ABN_VERSION"
PINNED_ARCH_LIST="$TORCH_CUDA_ARCH_LIST"
TORCH_CUDA_ARCH_LIST="$REQUESTED_ARCH_LIST"
OUT_DIR="dist"
PYTHON="${PYTHON:-python}"

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
    echo "build_inplace_abn: error: $*" >&2
    exit 1
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --out-dir) [[ $# -ge 2 ]] || die "--out-dir needs a directory"; OUT_DIR="$2"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

start_seconds=$SECONDS
command -v "$PYTHON" >/dev/null 2>&1 || die "PYTHON='$PYTHON' is not an executable; set PYTHON=/path/to/venv/bin/python"
# Absolute, because the import check below runs from / (so the source tree cannot shadow the installed package).
PYTHON="$(cd "$(dirname "$(command -v "$PYTHON")")" && pwd)/$(basename "$PYTHON")"

# What the target environment's torch is: version, CUDA version ('' for a CPU build), whether a GPU is visible.
read -r TORCH_VERSION TORCH_CUDA GPU_VISIBLE < <(
    "$PYTHON" -c 'import torch; print(torch.__version__, torch.version.cuda or "cpu", int(torch.cuda.is_available()))'
) || die "cannot import torch with $PYTHON; install torch into that environment first"
[[ "$TORCH_CUDA" == "cpu" ]] && TORCH_CUDA=""

# Locate the CUDA toolkit. torch guesses CUDA_HOME from the nvcc on PATH, which on some images is a wrapper in
# /usr/local/bin -> CUDA_HOME=/usr/local -> "cannot find -lcudart" at link time. Prefer /usr/local/cuda.
if [[ -z "${CUDA_HOME:-}" ]]; then
    if [[ -x /usr/local/cuda/bin/nvcc ]]; then
        CUDA_HOME=/usr/local/cuda
    elif command -v nvcc >/dev/null 2>&1; then
        CUDA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
    fi
fi
NVCC_CUDA=""
if [[ -n "${CUDA_HOME:-}" && -x "$CUDA_HOME/bin/nvcc" ]]; then
    NVCC_CUDA="$("$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')"
    export CUDA_HOME
fi

# inplace-abn 1.1.0's setup.py builds the CUDA extension iff torch is a CUDA build (torch.has_cuda), so the toolkit
# must be present and must match torch's CUDA version, or the extension will not load / not run.
if [[ -n "$TORCH_CUDA" ]]; then
    [[ -n "$NVCC_CUDA" ]] || die "torch $TORCH_VERSION is a CUDA $TORCH_CUDA build, so inplace-abn $IABN_VERSION" \
        "compiles CUDA kernels, but no nvcc was found (CUDA_HOME='${CUDA_HOME:-}'). Install the CUDA $TORCH_CUDA" \
        "toolkit (e.g. a *-devel container image) and set CUDA_HOME, or use model.norm=native."
    [[ "$NVCC_CUDA" == "$TORCH_CUDA" ]] || die "CUDA version mismatch: torch $TORCH_VERSION was built with CUDA" \
        "$TORCH_CUDA but nvcc in $CUDA_HOME is CUDA $NVCC_CUDA. Point CUDA_HOME at a CUDA $TORCH_CUDA toolkit or" \
        "install a torch built for CUDA $NVCC_CUDA."
    BUILD_KIND="CUDA $NVCC_CUDA (CUDA_HOME=$CUDA_HOME)"
    if [[ -z "${TORCH_CUDA_ARCH_LIST:-}" && "$GPU_VISIBLE" == "0" ]]; then
        # Without a visible GPU torch derives an empty arch list and crashes (IndexError in _get_cuda_arch_flags).
        TORCH_CUDA_ARCH_LIST="$PINNED_ARCH_LIST"
        export TORCH_CUDA_ARCH_LIST
    fi
else
    BUILD_KIND="CPU only (torch is a CPU build)"
    unset TORCH_CUDA_ARCH_LIST
fi
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"

echo "build_inplace_abn: inplace-abn $IABN_VERSION for torch $TORCH_VERSION, $BUILD_KIND," \
    "arch list '${TORCH_CUDA_ARCH_LIST:-}', MAX_JOBS=$MAX_JOBS, python $PYTHON"

# setup_requires=setuptools_scm: if it is not already installed, setuptools fetches an egg that fails to import.
# ninja: without it torch compiles serially and MAX_JOBS has no effect.
# wheel: `pip wheel --no-build-isolation` needs it with a setuptools older than 70.1 (a venv's bundled one).
"$PYTHON" -m pip install --quiet setuptools_scm ninja wheel

# --no-build-isolation: setup.py imports torch, and an isolated build env would pull a different torch.
# --no-cache-dir: never reuse a wheel cached from a build against another torch.
mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/inplace_abn-"$IABN_VERSION"-*.whl
# The compile prints nothing for minutes: a line a minute tells a log reader (a Slurm job, a CI run) it is alive.
heartbeat() { while sleep 60; do echo "build_inplace_abn: still compiling, $((SECONDS - start_seconds)) s so far"; done; }
heartbeat &
HEARTBEAT=$!
trap 'kill "$HEARTBEAT" 2>/dev/null || true' EXIT
echo "build_inplace_abn: compiling (several minutes per GPU architecture)"
"$PYTHON" -m pip wheel --no-build-isolation --no-deps --no-cache-dir --no-binary inplace-abn \
    --wheel-dir "$OUT_DIR" "inplace-abn==$IABN_VERSION"
kill "$HEARTBEAT" 2>/dev/null || true
WHEEL="$(find "$OUT_DIR" -maxdepth 1 -name "inplace_abn-$IABN_VERSION-*.whl" | head -n 1)"
[[ -n "$WHEEL" ]] || die "pip did not produce a wheel in $OUT_DIR"

# --no-deps: do not let pip touch the installed torch.
"$PYTHON" -m pip install --no-deps --force-reinstall "$WHEEL"

# Verify from a neutral directory (so the import is the installed package, not a source tree): the kernels were
# compiled with torch's CUDA release, and the layer matches the native norm layer on the CPU.
(cd / && PYTHONPATH="$REPO" "$PYTHON" -m wilss.doctor --inplace-abn) || die "the installed inplace-abn does not work (see above)"

echo "build_inplace_abn: summary"
echo "  package:   inplace-abn $IABN_VERSION, $BUILD_KIND"
echo "  torch:     $TORCH_VERSION (CUDA ${TORCH_CUDA:-none})"
echo "  archs:     ${TORCH_CUDA_ARCH_LIST:-n/a}"
echo "  wheel:     $WHEEL"
echo "  installed: $("$PYTHON" -c 'import sys; print(sys.prefix)')"
echo "  took:      $((SECONDS - start_seconds)) s"

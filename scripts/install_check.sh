#!/usr/bin/env bash
# Install the kit as a user does, outside the source tree, and use it:
#   1. build the wheel;
#   2. make a fresh venv elsewhere holding torch and torchvision at constraints.txt's versions (the environment a
#      cluster gives already has torch) and record torch's version and install path;
#   3. install the wheel with the constraints file: torch must keep its version and path (it is not reinstalled);
#   4. pip check, then a shortened demo chain with the `wilss` command from an empty directory.
#
#   scripts/install_check.sh [WORK_DIR]     (default: a new temporary folder, removed at the end)
#
# PYTHON picks the interpreter of the venv (default python3). tests/test_install.py runs it and compares the two
# "torch:" lines it prints.
set -euo pipefail
unset PYTHONPATH  # the installed package must be what runs, not a source tree (or its egg-info) on the path

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
if [ $# -gt 0 ]; then WORK="$1"; mkdir -p "$WORK"; else WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT; fi
WORK="$(cd "$WORK" && pwd)"
case "$WORK/" in "$REPO"/*) echo "install_check: WORK_DIR must lie outside the source tree $REPO" >&2; exit 2 ;; esac
START=$SECONDS
say() { echo "[install_check $((SECONDS - START))s] $*"; }
pip_install() { "$WORK/venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off "$@" \
  | { grep -E '^(Successfully|Installing|ERROR)' || true; }; }
torch_facts() { "$WORK/venv/bin/python" -c 'import torch; print("torch:", torch.__version__, torch.__file__)'; }
pinned() { sed -n "s/^$1==//p" "$REPO/constraints.txt"; }

say "building the wheel"
"$PYTHON" -m pip wheel --disable-pip-version-check --no-deps -q --wheel-dir "$WORK/dist" "$REPO"
WHEEL="$(find "$WORK/dist" -name 'wilss-*.whl' | head -n 1)"
say "wheel: $(basename "$WHEEL")"

say "fresh venv $WORK/venv with torch $(pinned torch) and torchvision $(pinned torchvision)"
rm -rf "$WORK/venv"
"$PYTHON" -m venv "$WORK/venv"
pip_install -c "$REPO/constraints.txt" torch torchvision
torch_facts

say "installing the wheel with -c constraints.txt"
pip_install -c "$REPO/constraints.txt" "$WHEEL"
torch_facts
say "environment: $(du -sh "$WORK/venv" | cut -f1)"

say "pip check"
"$WORK/venv/bin/python" -m pip check

say "shortened demo chain with the wilss command, from an empty directory"
mkdir -p "$WORK/empty"
cd "$WORK/empty"
"$WORK/venv/bin/wilss" chain experiment=demo dataset.generate.train=48 dataset.generate.val=12 \
  dataset.generate.size=64 dataset.crop_size=64 dataset.crop_size_val=64 train.epochs_base=1 \
  train.epochs_incremental=1 train.val_interval=1 train.num_workers=0
test -f outputs/synthetic-15-5/demo/results.md
say "install check passed"

#!/usr/bin/env bash
# The kit on a GPU machine whose torch is already installed, at whatever version (it is never replaced):
#   1. install wilss into that environment without touching torch (pip --no-deps, then the other dependencies,
#      which pip keeps where the installed versions are in range); torch's version and path must not change;
#   2. compile InPlace-ABN for the visible GPU (scripts/build_inplace_abn.sh);
#   3. wilss doctor for the run below (with model.norm=inplace_abn: the extension's CUDA against torch's);
#   4. a short fp16 chain (ResNet-101, crop 512, synthetic data, both steps) with model.norm=inplace_abn and with
#      native; prints the training images/s (median of the logged windows) and the peak GPU memory of each.
#
#   PYTHON=/path/to/env/bin/python scripts/gpu_check.sh [--cpu] [--out DIR]
#
# --cpu: the reduced mode that runs without a GPU (and in CI, tests/test_install.py): ResNet-18 at crop 64 in
# bf16, the native norm only; InPlace-ABN is built and run only in the GPU mode. --out: where the runs go
# (default: a new temporary folder, kept, printed at the end).
set -euo pipefail
unset PYTHONPATH  # the installed package must be what runs, not a source tree (or its egg-info) on the path

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
MODE=gpu
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) MODE=cpu; shift ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "usage: PYTHON=/path/to/python $0 [--cpu] [--out DIR]" >&2; exit 2 ;;
  esac
done
[ -n "$OUT" ] || OUT="$(mktemp -d)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
START=$SECONDS
say() { echo "[gpu_check $((SECONDS - START))s] $*"; }
torch_facts() { "$PYTHON" -c 'import torch; print("torch:", torch.__version__, torch.__file__)'; }

if [ "$MODE" = gpu ]; then
  NORMS=(inplace_abn native)
  RUN=(model=resnet101 dataset.generate.size=512 dataset.crop_size=512 dataset.crop_size_val=512
       dataset.generate.train=192 dataset.generate.val=48 train.precision=fp16 train.device=cuda train.batch_size=8
       train.num_workers=4 train.epochs_base=2 train.epochs_incremental=1 train.val_interval=2)
else
  NORMS=(native)
  RUN=(model=resnet18 dataset.generate.size=64 dataset.crop_size=64 dataset.crop_size_val=64
       dataset.generate.train=32 dataset.generate.val=8 train.precision=bf16 train.device=cpu train.batch_size=8
       train.num_workers=0 train.epochs_base=1 train.epochs_incremental=1 train.val_interval=1)
fi
RUN=(experiment=demo cluster=local model.pretrained=null train.log_interval=2 "output_root=$OUT" "${RUN[@]}")

say "mode $MODE, python $PYTHON, runs in $OUT"
BEFORE="$(torch_facts)"
echo "$BEFORE"

say "installing wilss without its torch/torchvision requirements, then the other dependencies"
"$PYTHON" -m pip install --disable-pip-version-check --progress-bar off --no-deps "$REPO" \
  | { grep -E '^(Successfully|ERROR)' || true; }
mapfile -t DEPENDENCIES < <("$PYTHON" - <<'PY'
import re
from importlib.metadata import requires

for requirement in requires("wilss") or []:
    name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()
    if ";" not in requirement and name not in ("torch", "torchvision"):  # extras carry a marker
        print(requirement)
PY
)
"$PYTHON" -m pip install --disable-pip-version-check --progress-bar off "${DEPENDENCIES[@]}" \
  | { grep -E '^(Successfully|ERROR)' || true; }
AFTER="$(torch_facts)"
echo "$AFTER"
[ "$BEFORE" = "$AFTER" ] || { echo "gpu_check: installing wilss changed torch" >&2; exit 1; }
WILSS="$(dirname "$PYTHON")/wilss"

if [ "$MODE" = gpu ]; then
  say "building InPlace-ABN for this GPU"
  PYTHON="$PYTHON" bash "$REPO/scripts/build_inplace_abn.sh" --out-dir "$OUT/wheels"
fi

say "wilss doctor --for chain ${RUN[*]} model.norm=${NORMS[0]}"
(cd "$OUT" && "$WILSS" doctor --for chain "${RUN[@]}" "model.norm=${NORMS[0]}")

for norm in "${NORMS[@]}"; do
  say "short chain with model.norm=$norm"
  (cd "$OUT" && "$PYTHON" - "$norm" "${RUN[@]}" "model.norm=$norm" "name=gpu-check-$norm" <<'PY'
import re
import resource
import statistics
import sys
import time

import torch

from wilss.chain import run_chain
from wilss.config import load_config
from wilss.spec import run_dir

norm, overrides = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
results = run_chain(overrides)
seconds = time.perf_counter() - started
logs = sorted(run_dir(load_config(overrides)).glob("step*/train.log"))
rates = [float(rate) for log in logs for rate in re.findall(r"([\d.]+) img/s", log.read_text())]
if torch.cuda.is_available():
    peak = f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
else:
    peak = f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (CPU)"
miou = results[-1]["sets"]["val"]["miou_all"]
print(f"RESULT model.norm={norm}: {statistics.median(rates):.1f} images/s (median of {len(rates)} logged windows), "
      f"{peak}, chain {seconds:.0f} s, last step mIoU all {100 * miou:.1f} %")
PY
  )
done
say "gpu check passed ($MODE mode); runs in $OUT"

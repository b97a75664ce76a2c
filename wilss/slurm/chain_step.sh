# shellcheck shell=bash
# The shared body of the sbatch scripts beside it (voc_15-5, voc_10-10, coco_voc and wilss.sbatch), sourced after
# their #SBATCH lines and task: one step of a wilss chain inside a Slurm job.
#
# Step 0 is the job the user submits. At its start it submits step 1 (`afterok`, killed if step 0 fails) with
# every sbatch option step 0 was submitted with, and so on: step t submits t+1, once, even when t is requeued
# (one Python call per job, python -m wilss.launch.sbatch_chain start, plans it). A second job for a step already
# queued or running stops. Then every task of the job runs the step with srun: on the timeout signal (--signal) or
# a preemption SIGTERM, the step checkpoints at the next iteration and requeues this job, which resumes from there.
#
# Needs from the sbatch script: SCRIPT (its own path, as submitted: what every later step's job runs) and
# TASK_OVERRIDES (array: the script's task, e.g. (dataset=voc task=15-5); empty = the overrides choose it);
# "$@" = the user's Hydra overrides.

set -euo pipefail

# Settings: from the environment of sbatch, or set in the sbatch script before it sources this file.
BIND="${BIND:-}"                                         # data folders for the container, comma-separated
OUTPUT_ROOT="${OUTPUT_ROOT:-$SLURM_SUBMIT_DIR/outputs}"  # run directories, checkpoints, TensorBoard
CONTAINER="${CONTAINER:-}"                               # Apptainer image (wilss.sif); empty = this environment
PYTHON="${PYTHON:-python}"                               # the interpreter with wilss installed
IFS=, read -r -a DATA_PATHS <<<"$BIND"

RUN=()
if [ -n "$CONTAINER" ]; then
  BINDS="$OUTPUT_ROOT"
  for path in "${DATA_PATHS[@]}"; do BINDS="$BINDS,$path"; done
  RUN=(apptainer exec --nv --bind "$BINDS" "$CONTAINER")
fi

STEP="${WILSS_STEP:-0}"
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
export WILSS_SCRIPT="$SCRIPT"  # what the next step's job runs, and a step that Slurm preempts for good submits again

# One call before the step (wilss.launch.sbatch_chain start): it claims the step for this job, submits step t+1
# (afterok on this job, with the sbatch options of this job's command line) once, and prints the job's overrides:
# the script's task minus the keys the command line sets itself (all of it for an experiment=), the output root,
# the user's overrides, the step (one rule, which `wilss status` applies too). Exit 3: another queued or running
# job has the step (the script submitted twice), a refusal the step's manifest records; this job then ends
# COMPLETED, with nothing run.
status=0
JOB_OVERRIDES="$("${RUN[@]}" "$PYTHON" -m wilss.launch.sbatch_chain start "$OUTPUT_ROOT" "$STEP" \
  "${TASK_OVERRIDES[@]}" -- "$@")" || status=$?
[ "$status" -eq 3 ] && exit 0
[ "$status" -ne 0 ] && exit "$status"
mapfile -t OVERRIDES <<<"$JOB_OVERRIDES"

echo "[wilss] job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}) step $STEP on $SLURM_JOB_NODELIST: ${OVERRIDES[*]}"

# Each rank's Python starts with the stop signals blocked: one that comes while the interpreter starts waits for
# the step's handlers (wilss.launch.step unblocks them once they are in) instead of killing the rank. GNU env
# (coreutils >= 8.31) does it; HOLD_STOP_SIGNALS in wilss/launch/signals.py is the same prefix.
HOLD=(env "--block-signal=TERM,USR1,USR2")
if ! "${RUN[@]}" "${HOLD[@]}" true 2>/dev/null; then
  HOLD=()
  echo "[wilss] warning: this env has no --block-signal (coreutils < 8.31): a stop signal in the first tens of" \
    "milliseconds of a rank ends it instead of stopping the step" >&2
fi
srun --kill-on-bad-exit=1 "${RUN[@]}" "${HOLD[@]}" "$PYTHON" -m wilss.launch.step "${OVERRIDES[@]}"
# After the last step: the chain's table (results.md) and, for the demo, the verdict, at the end of this log.
"${RUN[@]}" "$PYTHON" -m wilss.launch.chain_report "${OVERRIDES[@]}"

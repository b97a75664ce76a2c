# shellcheck shell=bash
# One step of a wilss chain inside a Slurm job; sourced by the slurm/*.sbatch scripts after their settings.
#
# Step 0 is the job the user submits. At its start it submits step 1 (`afterok`, killed if step 0 fails), and
# so on: step t submits t+1, once, even when t is requeued (python -m wilss.launch.sbatch_chain keeps track).
# Then every task of the job runs the step with srun: on the timeout signal (--signal) or a preemption
# SIGTERM, the step checkpoints at the next iteration and requeues this job, which resumes from there.
#
# Needs from the sbatch script: SCRIPT (its own path, as submitted), TASK_OVERRIDES (array), DATA_PATHS
# (array: data folders to bind into the container), OUTPUT_ROOT, CONTAINER (an Apptainer image, or empty for
# the current environment), PYTHON; "$@" = extra Hydra overrides.

set -euo pipefail

STEP="${WILSS_STEP:-0}"
OVERRIDES=("${TASK_OVERRIDES[@]}" "output_root=$OUTPUT_ROOT" "$@" "step=$STEP")

RUN=()
if [ -n "$CONTAINER" ]; then
  BINDS="$OUTPUT_ROOT"
  for path in "${DATA_PATHS[@]}"; do BINDS="$BINDS,$path"; done
  RUN=(apptainer exec --nv --bind "$BINDS" "$CONTAINER")
fi
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"

echo "[wilss] job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}) step $STEP on $SLURM_JOB_NODELIST: ${OVERRIDES[*]}"

# The next step gets what this job got, including options given to sbatch on its command line.
same_resources() {
  local job
  job="$(scontrol show job "$SLURM_JOB_ID")"
  echo "--partition=$SLURM_JOB_PARTITION"
  echo "--nodes=$SLURM_JOB_NUM_NODES"
  echo "--time=$(sed -n 's/.*TimeLimit=\([^ ]*\).*/\1/p' <<<"$job")"
  [ -n "${SLURM_JOB_ACCOUNT:-}" ] && echo "--account=$SLURM_JOB_ACCOUNT"
  [ -n "${SLURM_NTASKS_PER_NODE:-}" ] && echo "--ntasks-per-node=$SLURM_NTASKS_PER_NODE"
  [ -n "${SLURM_CPUS_PER_TASK:-}" ] && echo "--cpus-per-task=$SLURM_CPUS_PER_TASK"
  [ -n "${SLURM_GPUS_PER_NODE:-}" ] && echo "--gpus-per-node=$SLURM_GPUS_PER_NODE"
  [ -n "${SLURM_MEM_PER_NODE:-}" ] && echo "--mem=$SLURM_MEM_PER_NODE"
  return 0
}

NEXT="$("${RUN[@]}" "$PYTHON" -m wilss.launch.sbatch_chain next "${OVERRIDES[@]}")"
if [ -n "$NEXT" ]; then
  trap '' TERM  # submitting and recording the next step must not be split by a requeue
  mapfile -t RESOURCES < <(same_resources)
  NEXT_JOB="$(sbatch --parsable --dependency="afterok:$SLURM_JOB_ID" --kill-on-invalid-dep=yes "${RESOURCES[@]}" \
    --export=ALL,WILSS_STEP="$NEXT" "$SCRIPT" "$@")"
  NEXT_JOB="${NEXT_JOB%%;*}"
  "${RUN[@]}" "$PYTHON" -m wilss.launch.sbatch_chain record "$NEXT_JOB" "${OVERRIDES[@]}"
  trap - TERM
  echo "[wilss] step $NEXT submitted as job $NEXT_JOB (afterok:$SLURM_JOB_ID)"
fi

srun --kill-on-bad-exit=1 "${RUN[@]}" "$PYTHON" -m wilss.launch.step "${OVERRIDES[@]}"

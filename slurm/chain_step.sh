# shellcheck shell=bash
# One step of a wilss chain inside a Slurm job; sourced by the slurm/*.sbatch scripts after their settings.
#
# Step 0 is the job the user submits. At its start it submits step 1 (`afterok`, killed if step 0 fails) with
# every sbatch option step 0 was submitted with, and so on: step t submits t+1, once, even when t is requeued
# (python -m wilss.launch.sbatch_chain keeps track). A second job for a step already queued or running stops.
# Then every task of the job runs the step with srun: on the timeout signal (--signal) or a preemption
# SIGTERM, the step checkpoints at the next iteration and requeues this job, which resumes from there.
#
# Needs from the sbatch script: SCRIPT (its own path, as submitted), TASK_OVERRIDES (array), DATA_PATHS
# (array: data folders to bind into the container), OUTPUT_ROOT, CONTAINER (an Apptainer image, or empty for
# the current environment), PYTHON; "$@" = extra Hydra overrides.

set -euo pipefail

STEP="${WILSS_STEP:-0}"
# `experiment=...` on the command line chooses the dataset and task itself: the script's own choice would win
# over the experiment's (Hydra applies command-line groups last), so it is left out then, as is any group the
# command line sets.
CHOSEN=()
for override in "${TASK_OVERRIDES[@]}"; do
  group="${override%%=*}"
  [[ " $* " == *" $group="* ]] && continue
  [[ " $* " == *" experiment="* && ( "$group" == dataset || "$group" == task ) ]] && continue
  CHOSEN+=("$override")
done
OVERRIDES=("${CHOSEN[@]}" "output_root=$OUTPUT_ROOT" "$@" "step=$STEP")

RUN=()
if [ -n "$CONTAINER" ]; then
  BINDS="$OUTPUT_ROOT"
  for path in "${DATA_PATHS[@]}"; do BINDS="$BINDS,$path"; done
  RUN=(apptainer exec --nv --bind "$BINDS" "$CONTAINER")
fi
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"

echo "[wilss] job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}) step $STEP on $SLURM_JOB_NODELIST: ${OVERRIDES[*]}"

# This job takes its step, or stops here when another queued or running job has it (the script submitted twice).
"${RUN[@]}" "$PYTHON" -m wilss.launch.sbatch_chain claim "${OVERRIDES[@]}"

# The options this job was submitted with (sbatch's command line, as accounting recorded it; it may take a few
# seconds to get there), minus the dependency and environment the next step gets from here.
carried_options() {
  local line=""
  for _ in $(seq 30); do
    line="$(sacct -n -X -P -j "$SLURM_JOB_ID" -o SubmitLine 2>/dev/null | head -n 1)"
    [ -n "$line" ] && break
    sleep 1
  done
  if [ -z "$line" ]; then
    echo "[wilss] warning: accounting has no submit line for job $SLURM_JOB_ID: step $NEXT gets only the #SBATCH lines" >&2
    return 0
  fi
  "${RUN[@]}" "$PYTHON" -m wilss.launch.sbatch_chain options "$SCRIPT" "$SLURM_SUBMIT_DIR" <<<"$line"
}

NEXT="$("${RUN[@]}" "$PYTHON" -m wilss.launch.sbatch_chain next "${OVERRIDES[@]}")"
if [ -n "$NEXT" ]; then
  trap '' TERM  # submitting and recording the next step must not be split by a requeue
  mapfile -t OPTIONS < <(carried_options)
  # The next job must not see this job's SLURM_* variables (--export=ALL): SLURM_RESTART_COUNT, which Slurm
  # sets only from the first restart on, would count this job's restarts against the next one's cap.
  mapfile -t OWN_SLURM_VARIABLES < <(compgen -e | grep '^SLURM_' | grep -v '^SLURM_CONF$' | sed 's/^/-u/')
  NEXT_JOB="$(env "${OWN_SLURM_VARIABLES[@]}" sbatch --parsable "${OPTIONS[@]}" --dependency="afterok:$SLURM_JOB_ID" \
    --kill-on-invalid-dep=yes --export=ALL,WILSS_STEP="$NEXT" "$SCRIPT" "$@")"
  NEXT_JOB="${NEXT_JOB%%;*}"
  "${RUN[@]}" "$PYTHON" -m wilss.launch.sbatch_chain record "$NEXT_JOB" "${OVERRIDES[@]}"
  trap - TERM
  echo "[wilss] step $NEXT submitted as job $NEXT_JOB (afterok:$SLURM_JOB_ID) with ${OPTIONS[*]:-the #SBATCH lines}"
fi

srun --kill-on-bad-exit=1 "${RUN[@]}" "$PYTHON" -m wilss.launch.step "${OVERRIDES[@]}"

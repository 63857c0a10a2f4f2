#!/usr/bin/env bash
# Matched short runs for the ablation table: the default recipe cut to STEPS steps, and each
# ablation with exactly the same budget, data stream and seed (one core each: OMP_NUM_THREADS=1).
#   bash scripts/train_ablations.sh               # writes runs/abl-{control,sort,none,average}
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-300}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
common=(--config default-cpu --steps "$STEPS" --set train.warmup_steps=30 --set train.val_every=100
        --set train.checkpoint_every=100 --force)
amort train "${common[@]}" --out runs/abl-control
amort train "${common[@]}" --decoder sort --out runs/abl-sort
amort train "${common[@]}" --state none --out runs/abl-none
amort train "${common[@]}" --state average --out runs/abl-average

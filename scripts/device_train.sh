#!/usr/bin/env bash
# A training candidate in one call of a lent GPU: `amort train` for at most BUDGET_S seconds, its last
# checkpoint and metrics brought back under $OUT (each file well under the device tool's 16 MB), for a rule
# written before the run to judge on the CPU afterwards (docs/selection-rule-v*.md).
#
#   run(command="bash scripts/device_train.sh", timeout_s=540)             # the session's device tool
#   DEVICE=cpu STEPS=3 BATCH=4 WORKERS=1 BUDGET_S=120 OUT=/tmp/dt bash scripts/device_train.sh   # a CPU dry run
#
# By default the candidate is the shipped default trained further (INIT=default: its settings, weights,
# DirectLiNGAM embeddings and intervention head kept) on the `train-skew` prior with the must-precede loss, as
# its last network stage was on one CPU core, but with BATCH tasks a step from WORKERS simulating processes.
# INIT= (empty) with SETS="--set model.dim=128 ..." trains a new network from scratch instead. STEPS sets the
# cosine schedule: take it from the step rate `scripts/device_check.sh` measured, times BUDGET_S. If the
# budget runs out first, SIGTERM makes `amort train` save a checkpoint at the next step and exit 0, so the
# candidate comes back either way (with its learning rate not yet decayed: say so in the rule).
#
# It installs nothing (the device image's python3 has what the repository needs) and runs from the
# repository root (PYTHONPATH).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/device-train}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
STEPS=${STEPS:-6000}
BATCH=${BATCH:-128}
WORKERS=${WORKERS:-14}
BUDGET_S=${BUDGET_S:-420}
SEED=${SEED:-73}
INIT=${INIT-default}
PRESET=${PRESET:-train-skew}
SETS=${SETS:-}
TRAIN_OUT=${TRAIN_OUT:-/tmp/device-train}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
mkdir -p "$OUT"
log=$OUT/device_train.log
echo "== $(date -u +%H:%M:%S) steps $STEPS, batch $BATCH, workers $WORKERS, budget ${BUDGET_S} s, init '${INIT}'" | tee "$log"
# Training on from a checkpoint needs its network: every model setting of INIT's config, as --set flags.
MODEL_SETS=
if [ -n "$INIT" ]; then
  MODEL_SETS=$("$PY" -c "
import sys
from causal_amort.model.checkpoint import read_checkpoint, resolve_checkpoint
from dataclasses import asdict
cfg = read_checkpoint(resolve_checkpoint(sys.argv[1])).config.model
print(' '.join(f'--set model.{k}={str(v).lower() if isinstance(v, bool) else v}' for k, v in asdict(cfg).items()
               if v != '' and ' ' not in str(v)))" "$INIT") || exit 1
fi
# shellcheck disable=SC2086  # MODEL_SETS and SETS are lists of --set flags
timeout -s TERM -k 60 "$BUDGET_S" "$PY" -m cli train --config default-cpu ${INIT:+--init "$INIT"} $MODEL_SETS \
  --preset "$PRESET" --device "$DEVICE" --steps "$STEPS" --batch-size "$BATCH" --workers "$WORKERS" --seed "$SEED" \
  --lr 3e-4 --set train.warmup_steps=100 --set train.precede_loss=10.0 --set train.bf16=true \
  --set train.val_every=1000 --set train.checkpoint_every=200 $SETS --out "$TRAIN_OUT" --force 2>&1 | tee -a "$log"
echo "== $(date -u +%H:%M:%S) exit status ${PIPESTATUS[0]}" | tee -a "$log"
last=$(ls "$TRAIN_OUT"/checkpoints/step-*.json 2>/dev/null | sort | tail -1)
if [ -z "$last" ]; then
  echo "== no checkpoint was written" | tee -a "$log"
  exit 1
fi
cp "${last%.json}.safetensors" "$OUT/candidate.safetensors"
cp "$last" "$OUT/candidate.json"
cp "$TRAIN_OUT/metrics.csv" "$OUT/metrics.csv"
echo "== $(date -u +%H:%M:%S) candidate: $(basename "$last") -> $OUT/candidate.json" | tee -a "$log"

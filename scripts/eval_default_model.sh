#!/usr/bin/env bash
# The measurement behind docs/default-model.md: the default model, the matched ablation runs
# and every baseline on fresh-seed suites (test-in and test-out, d = 10 and 30, n = 2000).
#   bash scripts/eval_default_model.sh            # writes runs/model-card/
# Knobs: NUM (datasets per suite), SEED (suite seeds; the model never saw them), WORKERS,
# MODELS (LABEL=PATH list; the ablation runs are made by scripts/train_ablations.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/model-card}
NUM=${NUM:-16}
SEED=${SEED:-1000}
WORKERS=${WORKERS:-2}
MODELS=${MODELS:-"amort=default control=runs/abl-control sort=runs/abl-sort none=runs/abl-none average=runs/abl-average"}

data=()
for preset in test-in test-out; do
  for d in 10 30; do
    suite="$OUT/suites/$preset-d$d"
    amort simulate --preset "$preset" --num-datasets "$NUM" --d "$d" --n 2000 --seed "$SEED" --out "$suite" --force >/dev/null
    data+=(--data "$suite")
  done
done
models=()
for m in $MODELS; do models+=(--model "$m"); done

# Models and all baselines but NoGAM see all 2000 rows. NoGAM (kernel ridge regressions with
# cross-fitting, ~100 s per dataset at d = 30, n = 2000) sees a seeded subset of 1000 rows.
amort eval "${models[@]}" "${data[@]}" --baselines random,varsort,r2sort,lingam,score \
  --baseline-max-n 2000 --workers "$WORKERS" --out "$OUT/main" --force
amort eval --model none "${data[@]}" --baselines nogam --baseline-max-n 1000 --time-limit 300 \
  --workers "$WORKERS" --out "$OUT/nogam" --force
amort eval --merge "$OUT/main" --merge "$OUT/nogam" --out "$OUT/all" --force

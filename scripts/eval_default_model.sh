#!/usr/bin/env bash
# The measurement behind docs/default-model.md: the default model, the ablation arms and every
# baseline on fresh-seed suites (16 SCMs, n = 2000 each; the seed was never used in training,
# validation or selection). Baselines do not depend on the models, so they are evaluated once
# per suite (phase "baselines") and merged with the models' evaluation (phase "models").
#   bash scripts/eval_default_model.sh suites      # simulate the suites
#   bash scripts/eval_default_model.sh baselines   # random, varsort, r2sort, lingam, score: one folder per suite
#   bash scripts/eval_default_model.sh nogam       # NoGAM, one folder per suite
#   bash scripts/eval_default_model.sh intsort     # interventional suites: int-sort, the baseline that reads masks
#   bash scripts/eval_default_model.sh models      # the models of $MODELS into $OUT/models/$TAG
#   bash scripts/eval_default_model.sh merge       # baselines and every models/* into one folder: $OUT/all
#   bash scripts/eval_default_model.sh curves      # refinement: test-in d = 20, n = 10000 (40 chunks of 250)
# Knobs: OUT, NUM, SEED, WORKERS, NOGAM_N (rows NoGAM sees), LIMIT_D100 (seconds per slow baseline at d = 100), MODELS (LABEL=PATH list; the arms come from scripts/train_ablations.sh),
# TAG (a name for one models run, so that models evaluated at different times merge side by side),
# MODEL_FLAGS (more `amort eval` flags for the models phase, e.g. --pool-masks).
# SUITES_SET=interventional: the interventional card's suites instead (docs/default-model.md, "Interventional data"):
#   OUT=runs/model-card-int SUITES_SET=interventional bash scripts/eval_default_model.sh suites   (and so on)
# SUITES_SET=external: other simulators' SCMs (scripts/external_suites.py, d = 20; docs/default-model.md,
# "Other simulators"): OUT=runs/model-card-external SUITES_SET=external bash scripts/eval_default_model.sh suites;
# EXTERNAL_D and EXTERNAL_N set their size (default d = 20, n = 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
# One thread per process unless told otherwise: these runs share the machine with others.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-runs/model-card}
NUM=${NUM:-16}
SEED=${SEED:-2026}
WORKERS=${WORKERS:-1}
MODELS=${MODELS:-"amort=default"}
TAG=${TAG:-main}
NOGAM_N=${NOGAM_N:-1000}
LIMIT_D100=${LIMIT_D100:-20}
# name:preset:d:extra simulate flags (raw = no standardization, where var-sort is strong)
SUITES=${SUITES:-"test-out-d10:test-out:10 test-in-d10:test-in:10 test-graph-d20:test-graph:20
test-mechanism-d20:test-mechanism:20 test-noise-d20:test-noise:20 test-out-d30:test-out:30 test-in-d30:test-in:30
test-in-d20-raw:test-in:20:--no-standardize test-in-d100:test-in:100 test-out-d100:test-out:100"}

# name:preset:d:--interventions=K: perfect interventions on K targets per dataset (masks stored).
INTERVENTIONAL="test-in-d20-k5:test-in:20:--interventions=5 test-in-d20-k20:test-in:20:--interventions=20
test-out-d30-k15:test-out:30:--interventions=15 test-graph-d20-k10:test-graph:20:--interventions=10
test-mechanism-d20-k10:test-mechanism:20:--interventions=10 test-noise-d20-k10:test-noise:20:--interventions=10"
[ "${SUITES_SET:-}" = interventional ] && SUITES=$INTERVENTIONAL
# name:external:d: a suite of scripts/external_suites.py (its name is the generator's configuration).
if [ "${SUITES_SET:-}" = external ]; then
  SUITES=$(python -c "from simulators.external.suites import SUITES; print(' '.join(f'{s}:external:${EXTERNAL_D:-20}' for s in SUITES))")
fi

phase=${1:?usage: eval_default_model.sh suites|baselines|nogam|intsort|models|merge|curves}
if [ "$phase" = curves ]; then
  amort simulate --preset test-in --num-datasets "$NUM" --d 20 --n 10000 --seed "$SEED" \
    --out "$OUT/suites/curves-test-in-d20-n10000" --force >/dev/null
  models=(); for m in $MODELS; do models+=(--model "$m"); done
  amort eval "${models[@]}" --data "$OUT/suites/curves-test-in-d20-n10000" --baselines random,varsort,r2sort \
    --workers "$WORKERS" --out "$OUT/curves" --force
  exit 0
fi
for entry in $SUITES; do
  IFS=: read -r name preset d extra <<<"$entry"
  suite="$OUT/suites/$name"
  case "$phase" in
    suites)
      if [ "$preset" = external ]; then
        python scripts/external_suites.py --out "$OUT/suites" --seed "$SEED" --num "$NUM" --d "$d" --n "${EXTERNAL_N:-2000}" \
          --suites "$name" >/dev/null
        continue
      fi
      amort simulate --preset "$preset" --num-datasets "$NUM" --d "$d" --n 2000 --seed "$SEED" $extra \
        --out "$suite" --force >/dev/null ;;
    baselines)
      # Models and the fast baselines see all 2000 rows, LiNGAM and SCORE too; at d = 100 these two
      # get LIMIT_D100 seconds per dataset and a 'timeout' row where they cannot finish.
      limit=300; [ "$d" -ge 100 ] && limit=$LIMIT_D100
      [ -f "$OUT/base/$name/results.csv" ] || amort eval --model none --data "$suite" \
        --baselines random,varsort,r2sort,lingam,score --baseline-max-n 2000 --time-limit "$limit" \
        --workers "$WORKERS" --out "$OUT/base/$name" --force ;;
    nogam)
      # NoGAM (kernel ridge regressions with cross-fitting, minutes per dataset at d = 30) sees a
      # seeded subset of NOGAM_N rows; it is not run at d = 100.
      [ "$d" -ge 100 ] || [ -f "$OUT/nogam/$name/results.csv" ] || amort eval --model none --data "$suite" \
        --baselines nogam --baseline-max-n "$NOGAM_N" --time-limit 300 --workers "$WORKERS" \
        --out "$OUT/nogam/$name" --force ;;
    intsort)
      # The classical baseline that reads the masks (causal_amort/baselines/intsort.py), on the suites
      # that have them.
      [[ "$extra" == *--interventions* ]] || continue
      [ -f "$OUT/intsort/$name/results.csv" ] || amort eval --model none --data "$suite" --baselines intsort \
        --workers "$WORKERS" --out "$OUT/intsort/$name" --force ;;
    models)
      models=(); for m in $MODELS; do models+=(--model "$m"); done
      amort eval "${models[@]}" --data "$suite" --baselines "" --workers "$WORKERS" ${MODEL_FLAGS:-} \
        --out "$OUT/models/$TAG/$name" --force ;;
  esac
done
if [ "$phase" = merge ]; then
  merge=()
  for entry in $SUITES; do
    name=${entry%%:*}
    for part in "$OUT/base" "$OUT/nogam" "$OUT/intsort" "$OUT"/models/*; do
      [ -f "$part/$name/results.csv" ] && merge+=(--merge "$part/$name")
    done
  done
  amort eval "${merge[@]}" --out "$OUT/all" --force
fi

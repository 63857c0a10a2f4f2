#!/usr/bin/env bash
# One fresh draw of cause-effect pair suites (rule v71, docs/selection-rule-v71.md): 64 SCMs each at d = 2
# and n = 2000 from the training prior (train), the five held-out presets select-{graph,noise,interaction,
# shift,out}, and every suite of other simulators' SCMs (scripts/external_suites.py), all with one seed, one
# thread per process: what decides how a model orders two variables.
#   bash scripts/pairs_draw.sh SEED [OUT]        # OUT (from the repository root): runs/select-pairs-SEED
# NUM and N change the counts (a smoke test; a rule's draw uses the defaults). An existing OUT is refused:
# a draw is simulated once.
set -euo pipefail
cd "$(dirname "$0")/.."
DRAW_PREFIX=runs/select-pairs DRAW_NUM=64
source scripts/draw_args.sh  # SEED, OUT, NUM, N, AMORT, checked
PYTHON=${PYTHON:-python}
common=(--num-datasets "$NUM" --n "$N" --seed "$SEED" --threads 1)
for preset in train select-graph select-noise select-interaction select-shift select-out; do
  $AMORT simulate --preset "$preset" --d 2 "${common[@]}" --out "$OUT/$preset-d2"
done
$PYTHON scripts/external_suites.py --out "$OUT" --seed "$SEED" --d 2 --n "$N" --num "$NUM" --workers 2

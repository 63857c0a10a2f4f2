#!/usr/bin/env bash
# One draw of interventional selection suites (rule v50, docs/selection-rule-v50.md): 32 SCMs each at
# n = 2000 with perfect interventions on K targets (rows split into K + 1 regimes), as CSV folders with
# their NAME.mask.csv files, and beside each its pooled twin (the same files without the masks: what a
# method that cannot read masks sees, all rows as if observational):
#   train d = 20 with K = 5 and K = 20, train d = 50 with K = 10, and the held-out presets select-out,
#   select-shift and select-noise at d = 20 with K = 10.
#   bash scripts/intervention_draw.sh SEED [OUT]      # OUT (from the repository root): runs/select-int-SEED
# NUM and N change the counts (a smoke test; a rule's draw uses the defaults). An existing OUT is refused.
set -euo pipefail
cd "$(dirname "$0")/.."
DRAW_PREFIX=runs/select-int DRAW_NUM=32
source scripts/draw_args.sh  # SEED, OUT, NUM, N, AMORT, checked
common=(--num-datasets "$NUM" --n "$N" --seed "$SEED" --threads 1 --format csv)
suite() {  # NAME PRESET D K
  $AMORT simulate --preset "$2" --d "$3" --interventions "$4" "${common[@]}" --out "$OUT/masked/$1"
  mkdir -p "$OUT/pooled/$1"
  # a plain CSV folder (NAME.csv + NAME.edges.csv): the suite's manifest would ask for the masks
  find "$OUT/masked/$1" -maxdepth 1 -type f -name '*.csv' ! -name '*.mask.csv' -exec cp {} "$OUT/pooled/$1/" \;
}
suite train-d20-k5 train 20 5
suite train-d20-k20 train 20 20
suite train-d50-k10 train 50 10
for preset in select-out select-shift select-noise; do
  suite "$preset-d20-k10" "$preset" 20 10
done

#!/usr/bin/env bash
# One fresh draw of the twelve selection suites that rules v28 on judge candidates with
# (docs/selection-suites.md): 32 SCMs each at n = 2000 of test-in (d = 20), train (d = 2..60) and
# the five held-out presets select-{graph,noise,interaction,shift,out} at d = 20 and 50, all with
# one seed, one thread per process. Simulate a draw only after the runs it judges have ended, with
# a seed no rule has read (the list in docs/selection-suites.md).
#   bash scripts/selection_draw.sh SEED [OUT]        # OUT (from the repository root): runs/select-SEED
# NUM and N change the counts (a smoke test; a rule's draw uses the defaults). An existing OUT is
# refused: a draw is simulated once.
set -euo pipefail
cd "$(dirname "$0")/.."
DRAW_PREFIX=runs/select DRAW_NUM=32
source scripts/draw_args.sh  # SEED, OUT, NUM, N, AMORT, checked
common=(--num-datasets "$NUM" --n "$N" --seed "$SEED" --threads 1)
$AMORT simulate --preset test-in --d 20 "${common[@]}" --out "$OUT/test-in-d20"
$AMORT simulate --preset train --d-min 2 --d-max 60 "${common[@]}" --out "$OUT/train-d2-60"
for preset in select-graph select-noise select-interaction select-shift select-out; do
  for d in 20 50; do
    $AMORT simulate --preset "$preset" --d "$d" "${common[@]}" --out "$OUT/$preset-d$d"
  done
done

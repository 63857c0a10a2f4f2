#!/usr/bin/env bash
# The main job end to end, small enough for a laptop (`make demo` runs it with .venv on PATH):
# simulate a small out-of-distribution suite, evaluate the shipped default model against the
# classical baselines, print the summary table, and predict the order of one CSV file.
# Results land in runs/demo/ (eval/summary.md, eval/curves.png, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/demo}
BASELINES=${BASELINES:-random,varsort,r2sort,lingam,score}

echo "== 1/3 simulate: 16 SCMs from the test-out preset (graphs, mechanisms and noise all unseen in training)"
amort simulate --preset test-out --num-datasets 16 --d 10 --n 1000 --seed 0 --out "$OUT/test-out" --force

echo "== 2/3 evaluate the default model against $BASELINES"
amort eval --model default --data "$OUT/test-out" --baselines "$BASELINES" --out "$OUT/eval" --force

echo "== 3/3 predict the causal order of one CSV file"
amort simulate --preset test-out --num-datasets 1 --d 8 --n 2000 --seed 7 --format csv --out "$OUT/csv" --force
amort predict "$OUT/csv/test-out-00000.csv" --model default --dag --out "$OUT/order.json"
echo "true edges are in $OUT/csv/test-out-00000.edges.csv; tables and plot in $OUT/eval/"

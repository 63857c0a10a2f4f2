#!/usr/bin/env bash
# Matched short runs for the ablation table: the default recipe cut to STEPS steps of the same
# data stream and seed (d = 2..100 log-uniform, 1..4 chunks of 250 rows), and one arm per changed
# factor with exactly that budget of steps, on one core each (OMP_NUM_THREADS=1):
#   encoder: stats (control) vs cells;  state: none (control) vs carry, causal, average;
#   decoder: causal (control) vs sort;  cues: with (control) vs without the score-matching cues;
#   each cue group of causal_amort/model/cues.py (CUE_GROUPS) read as zeros: arm no-GROUP, e.g. no-lingam;
#   basis: base (control) vs wide (model.basis = wide: sines and cosines added to the summed features);
#   kernel: SCORE's kernel leaf test on a 128-row sample as cues (model.kernel_rows = 128);
#   leaf: SCORE's leaf removal on the score cues' fit as cues (model.leaf_cues = true);
#   dec1: a one-layer pointer decoder (model.dec_layers = 1; the control has two), for speed.
# The arms with a learned state take a loss after every chunk (train.loss_chunks = all), as the
# seed paper trains them; the control needs only the last (its state is the statistics). The
# causal arm's gradient reaches every earlier chunk (tbptt 4 = the most chunks), which trains all
# prefixes of a task in one pass (OrderModel.advance_prefixes).
#   bash scripts/train_ablations.sh                          # every arm: runs/abl-{control,noscore,...}
#   STEPS=1500 ARMS="control noscore" bash scripts/train_ablations.sh   # some arms, another budget
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-250}
ARMS=${ARMS:-"control noscore sort carry causal average cells no-moments no-regression no-lingam no-correlation"}
OUT=${OUT:-runs}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
common=(--steps "$STEPS" --chunks-max 4 --set train.warmup_steps=25 --set train.val_every=100
        --set train.checkpoint_every=100 --force)
for arm in $ARMS; do
  case "$arm" in
    control) amort train --config default-cpu "${common[@]}" --out "$OUT/abl-control" ;;
    noscore) amort train --config default-cpu "${common[@]}" --set model.score_cues=false --out "$OUT/abl-noscore" ;;
    sort) amort train --config default-cpu "${common[@]}" --decoder sort --out "$OUT/abl-sort" ;;
    carry|average)
      amort train --config default-cpu "${common[@]}" --state "$arm" --set train.loss_chunks=all --out "$OUT/abl-$arm" ;;
    causal)
      amort train --config default-cpu "${common[@]}" --state causal --set train.loss_chunks=all --tbptt 4 \
        --out "$OUT/abl-causal" ;;
    # The cells encoder reads every value: its own chunk size (50 rows) and d range (2..50), as shipped in v3.
    cells) amort train --config cells-cpu --steps "$STEPS" --chunks-max 10 --set train.warmup_steps=25 \
             --set train.val_every=100 --set train.checkpoint_every=100 --force --out "$OUT/abl-cells" ;;
    wide) amort train --config default-cpu "${common[@]}" --set model.basis=wide --out "$OUT/abl-wide" ;;
    kernel) amort train --config default-cpu "${common[@]}" --set model.kernel_rows=128 --out "$OUT/abl-kernel" ;;
    leaf) amort train --config default-cpu "${common[@]}" --set model.leaf_cues=true --out "$OUT/abl-leaf" ;;
    dec1) amort train --config default-cpu "${common[@]}" --set model.dec_layers=1 --out "$OUT/abl-dec1" ;;
    no-*) amort train --config default-cpu "${common[@]}" --set "model.drop_cues=${arm#no-}" --out "$OUT/abl-$arm" ;;
    *) echo "unknown arm $arm" >&2; exit 2 ;;
  esac
done

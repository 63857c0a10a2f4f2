#!/usr/bin/env bash
# The main job end to end, small enough for a laptop (`make demo` runs it with .venv on PATH).
# Step 1: simulate a small out-of-distribution suite (every factor shifted from the training prior).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/demo}

amort simulate --preset test-out --num-datasets 16 --d 10 --n 500 --seed 0 --out "$OUT/suite" --force

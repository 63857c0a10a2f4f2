#!/usr/bin/env bash
# The GPU checks in one short run, for a session that is lent an accelerator (docs/benchmarks.md's GPU
# columns: bf16 training throughput, achieved TFLOP/s, streaming and an end-to-end training run).
#
#   run(command="bash scripts/device_check.sh", timeout_s=540)      # the session's device tool; $OUT comes back
#   DEVICE=cpu STEPS=2 TRAIN_STEPS=20 OUT=/tmp/dc bash scripts/device_check.sh   # the same steps on CPU (a dry run)
#
# It installs nothing: the device image's python3 has PyTorch, pandas, typer, rich and networkx, and the
# repository runs from its root (PYTHONPATH). Each step has its own time limit and prints its exit status,
# so one slow or failing step leaves the others' figures; everything goes to $OUT/device_check.log and the
# training run's metrics to $OUT/train_metrics.csv (its folder stays in $TRAIN_OUT: the device tool brings
# back only a few files). About 7 minutes on an H200 at the defaults, well inside one call.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/device-check}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
STEPS=${STEPS:-10}               # timed steps per size in bench_train
TRAIN_STEPS=${TRAIN_STEPS:-600}  # the end-to-end run: simulation in worker processes, the model on $DEVICE
WORKERS=${WORKERS:-12}
TRAIN_OUT=${TRAIN_OUT:-/tmp/device-check-train}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
mkdir -p "$OUT"
log=$OUT/device_check.log
: >"$log"

step() {  # step LIMIT_SECONDS COMMAND...: run it, its output into the log, then its exit status
  local limit=$1
  shift
  echo "== $(date -u +%H:%M:%S) $* (limit ${limit} s)" | tee -a "$log"
  timeout "$limit" "$@" 2>&1 | tee -a "$log"
  echo "== exit status ${PIPESTATUS[0]}" | tee -a "$log"
}

step 30 nvidia-smi
step 60 "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'device',
    torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none', 'cpus', __import__('os').cpu_count())"
# Model step alone per size (bf16 on a GPU, FLOP/s against the chip's peak), then the shipped recipe at the
# issue's cell (d = 20, n = 1000) and a large one, where a GPU should pull furthest ahead of two CPU cores.
step 150 "$PY" scripts/bench_train.py --device "$DEVICE" --sizes tiny,small,base,default-cpu,cells-cpu --steps "$STEPS"
step 90 "$PY" scripts/bench_train.py --device "$DEVICE" --bf16 --sizes default-cpu,cells-cpu --d 20 --n 1000 --steps "$STEPS"
step 90 "$PY" scripts/bench_train.py --device "$DEVICE" --bf16 --sizes default-cpu --d 100 --n 3000 --steps "$STEPS" \
  --batch-size 32
# End to end: the shipped recipe from scratch for a few hundred steps, tasks simulated by $WORKERS processes.
step 240 "$PY" -m cli train --config default-cpu --device "$DEVICE" --steps "$TRAIN_STEPS" --workers "$WORKERS" \
  --set train.bf16=true --set train.val_every=200 --seed 0 --out "$TRAIN_OUT" --force
cp "$TRAIN_OUT/metrics.csv" "$OUT/train_metrics.csv" 2>/dev/null
echo "== $(date -u +%H:%M:%S) done" | tee -a "$log"

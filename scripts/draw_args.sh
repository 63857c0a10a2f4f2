# The arguments of a fresh selection draw (selection_draw.sh, intervention_draw.sh, pairs_draw.sh), checked in
# one place; sourced from the repository root by those scripts, which set DRAW_PREFIX (OUT defaults to
# DRAW_PREFIX-SEED) and DRAW_NUM (SCMs per suite) first. Sets SEED and OUT from the arguments SEED [OUT], and
# NUM, N (2000) and AMORT (amort) from the environment; refuses, with exit status 2, a seed that is not a whole
# number and an OUT that exists: a draw is simulated once.
SEED=${1:-}
OUT=${2:-$DRAW_PREFIX-$SEED}
NUM=${NUM:-$DRAW_NUM}
N=${N:-2000}
AMORT=${AMORT:-amort}
draw_name=$(basename "$0")
if [[ ! $SEED =~ ^[0-9]+$ ]]; then
  echo "$draw_name: give the seed, a whole number (bash scripts/$draw_name SEED [OUT])" >&2
  exit 2
fi
if [[ -e $OUT ]]; then
  echo "$draw_name: $OUT exists; a draw is simulated once (choose another OUT or seed)" >&2
  exit 2
fi
export OMP_NUM_THREADS=1

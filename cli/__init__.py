"""Thin command-line layer: parse, validate, call the library, print."""
import os

# OpenMP threads that wait for work spin by default; beside a busy neighbour (another array task
# on the node, a second process on a laptop) that spinning made one decode 5-100x slower
# (docs/benchmarks.md, threads). Passive waiting must be chosen before torch loads OpenMP, so it
# is set here, before any command imports torch; a value the user exported is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

"""`python -m cli` runs the amort app (also what `torchrun -m cli train ...` needs)."""
from cli.app import main

main()

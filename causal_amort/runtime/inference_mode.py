"""The torch settings every inference pass runs under (streaming, decoding, evaluation).

- ``torch.inference_mode``: no autograd bookkeeping at all (not even version counters), which
  no_grad still keeps; the decoder's one-position steps are ~40 tiny ops each, so per-op overhead
  is most of their time.
- oneDNN off: with it on, an elementwise op such as GELU on a (1, 1, 128) tensor sets up a oneDNN
  primitive per call (8 us against 1.2 us for torch's native kernel, one thread). The big
  matmuls of the running statistics go to BLAS either way. Measured in docs/benchmarks.md.
  The oneDNN switch is process-wide (inference mode is per thread): another thread computing
  on CPU meanwhile runs without oneDNN too, which changes its speed and float rounding, not what
  it computes.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def inference() -> Iterator[None]:
    """Run the block in inference mode with oneDNN off; the previous oneDNN setting comes back."""
    enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.backends.mkldnn.enabled = enabled

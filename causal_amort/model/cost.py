"""What an order model costs on one dataset before it runs: seconds on one core and peak working memory.

Power laws fitted to measurements of the shipped default on one core of the development machine
(docs/benchmarks.md, session 32: d = 100 to 2000, n = 2000 and 20,000; `python
scripts/bench_stream.py --widths ...` prints them beside these estimates). The statistics encoder's
cost is set by its dK basis features (K per variable): reading a row adds to a dK x dK Gram matrix,
and each decode (an encoder pass and an order) inverts the score fit's dK x dK correlation, ~(dK)^3.
Its peak is the cues' (dK)^2 matrices (the Gram in float64, the fit's correlation, factor and inverse
in float32) and the network's d x d pair channel, or at small d the feature buffers of a block of
rows. The options that add sums or decoding work (`model.tail_cues`, `model.conditional_head`,
`model.lingam_rows`) add their share. The per-cell encoder (`cells`) keeps session 16's fit: a chunk in time linear in d, a decode
in ~d^3.
"""
from __future__ import annotations

from causal_amort.config import ModelConfig
from causal_amort.model.sufficient import BASES


def model_cost(cfg: ModelConfig, d: int, n: int, decodes: int = 1, beam: int = 1) -> tuple[float, int]:
    """(seconds, peak bytes) of a model of ``cfg`` reading n rows of d variables and decoding an order
    ``decodes`` times (a beam of width k decodes k hypotheses at once: about 1 + k / 4 times greedy)."""
    widen = 1.0 if beam == 1 else 1.0 + beam / 4
    if cfg.encoder != "stats":
        return 1.8e-5 * n * d + decodes * widen * (3e-3 * d + 4e-8 * d**3), int(100 * d * d * beam + 1.2e5 * d)
    dk = d * len(BASES[cfg.basis])
    # The tails' sums (model.tail_cues) add a (3d)^2 Gram matrix to every row's (dK)^2.
    rows = 1.6e-11 * n * (dk**2 + (9 * d * d if cfg.tail_cues else 0))
    seconds = rows + decodes * (2.9e-11 * dk**3 + widen * 4e-4 * d)
    # 24 bytes per (dK)^2 entry at the cues' and the network's peak; 55 kB per feature in the buffers
    # of a 4,096-row block.
    per_entry = 24
    if cfg.conditional_head:
        # Conditional decoding grows a float64 (dK)^2 Cholesky factor per hypothesis beside the Gram,
        # the correlation and its per-hypothesis copy, in small batched steps: ~1.6e-10 s per (dK)^3
        # (session 33: 2.1 s more at d = 300, one thread).
        seconds += decodes * widen * 1.6e-10 * dk**3
        per_entry = max(per_entry, 16 + 16 * beam)
    if cfg.lingam_rows and not 0 < cfg.lingam_max_d < d:
        # DirectLiNGAM's search on the row sample (sample_lingam.py): d steps of products over the m
        # sampled rows, ~1e-10 s per m d^3 plus 0.5 ms a step (session 34: 16-20 ms at d = 30, 0.15 s at
        # d = 100, one thread), and a few float32 copies of the (m, d) sample (below); with model.lingam_gate an
        # upper bound (the search is skipped where the gate stays closed, which depends on the data).
        seconds += decodes * (1e-10 * min(cfg.lingam_rows, n) * d**3 + 5e-4 * d)
    return seconds, int(per_entry * dk**2 + 55_000 * dk + 16 * d * d * beam + (72 * d * d if cfg.tail_cues else 0)
               + (24 * min(cfg.lingam_rows, n) * d if cfg.lingam_rows else 0))

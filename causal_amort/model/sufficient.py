"""Streamed sufficient statistics of a dataset: exact running sums of a bounded feature basis.

Each variable's values are robustly standardized with a centre and scale fixed by the first
chunk (median and 1.4826 x MAD; the mean absolute deviation when the MAD is zero, as in
discrete data; a constant column becomes all zeros). The z-score is then soft-clipped,
``s = z / sqrt(1 + (z / 4)^2)``, which is ~z for |z| < 2 and bounded by 4: Cauchy or Student-t
(df <= 2) tails can neither overflow the sums nor let a few rows dominate them, while the bulk
of the distribution keeps its shape. From s come K bounded features (``BASIS``): three powers
(for moments up to order 6 through the Gram matrix), the nonlinearities of the pairwise LiNGAM
and DirectLiNGAM measures (tanh, log cosh, s exp(-s^2/2)) and two Gaussian bumps, which with
the rest make a small regression basis. The ``wide`` basis (``BASES``) appends sines and cosines
of s at two frequencies (``WIDE_FREQUENCIES``), for mechanisms that wiggle faster than the
small basis can follow; the cues read K off the sums, so either basis feeds the same network.

Per chunk we add, over the observational rows (no intervened cell), the count, the feature sums
(d, K) and the Gram matrix of all features (dK x dK); for the streamed score-matching leaf test
(cues.score_matching_cues), the sums of each feature's derivative with respect to the variable's
z-score (d, K) and of their products within a variable (d, K, K); and, over rows where variable j is
intervened, the feature sums of every variable (d, d, K) and the count. After t chunks the
sums are exactly those of all rows seen (the transform is fixed after chunk 1), whatever the
chunk sizes, in O((dK)^2) memory whatever n is. Chunk sums are computed in float32 and
accumulated in float64, so 10^6 rows lose nothing to round-off.

Optionally (``reservoir_rows`` m > 0) a fixed-size sample of observational rows is kept beside
the sums, for cues that no sum gives (kernel_cues.py): the m rows of lowest priority
frac(i * golden ratio), i the row's index in the stream. A row's priority does not depend on
the chunking, so the sample is the same however the rows arrive, and the golden-ratio sequence
spreads it evenly over the stream (a file sorted by some column is still sampled throughout);
no random draw is involved. Rows are stored as robust z-scores clipped at +-`SAMPLE_CLIP`: not
soft-clipped, because the kernel cues assume Gaussian noise, which a compression of the bulk
(a bimodal variable reaches |z| = 3) would break; the hard clip only stops far outliers (Cauchy
tails) from dominating the sample's scale.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, fields, replace
from typing import Iterator

import torch
from torch import Tensor

CLIP = 4.0
# The tails' milder soft clip (``RunningStats.tail_sums``): Laplace, Gumbel or exponential noise keeps
# its excess kurtosis under it (s = z / sqrt(1 + (z / 4)^2) takes it to about 0), Cauchy stays finite.
TAIL_CLIP = 16.0
SAMPLE_CLIP = 10.0
# Feature order; cues.py refers to these positions by name.
BASIS = ("s", "s2", "s3", "tanh", "logcosh", "gauss1", "bump_hi", "bump_lo")
WIDE_FREQUENCIES = (1.5, 3.0)
BASES = {"base": BASIS, "wide": BASIS + tuple(f"{f}{w:g}" for w in WIDE_FREQUENCIES for f in ("sin", "cos"))}
S, S2, S3, TANH, LOGCOSH, GAUSS1 = range(6)
_MAD_TO_SD = 1.4826
_MEAN_AD_TO_SD = 1.2533
_GOLDEN = (5**0.5 - 1) / 2
_BUMP_SCALE = math.exp(-1.125)  # exp(-1.5^2 / 2)
# A chunk of at least this many rows gets its Gram matrix in row blocks, upper triangle only.
_GRAM_BLOCK_ROWS = 1000
# Rows per block of `RunningStats.covariance_rows` (at dK = 8000, 32 MB of float64 each).
_COVARIANCE_ROWS = 512
# Feature buffers of at most this many bytes outlive the cues and the dataset (`release_scratch`).
KEEP_SCRATCH_BYTES = 32 << 20
_THREAD = threading.local()


def robust_center_scale(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-variable centre and scale of a chunk (B, b, d): median and 1.4826 MAD (mean absolute
    deviation where the MAD is 0); scale 0 marks a constant column. Shapes (B, 1, d)."""
    x = x.double()
    center = x.median(dim=1, keepdim=True).values
    dev = (x - center).abs()
    mad = dev.median(dim=1, keepdim=True).values * _MAD_TO_SD
    mean_ad = dev.mean(dim=1, keepdim=True) * _MEAN_AD_TO_SD
    return center, torch.where(mad > 0, mad, mean_ad)


def _zscore(x: Tensor, center: Tensor, scale: Tensor) -> Tensor:
    """Robust z-scores (float32) under a fixed centre and scale; a constant column gives zeros."""
    constant = scale == 0
    z = (x.double() - center) / torch.where(constant, 1.0, scale)
    return torch.where(constant, 0.0, z).float()


def _clip_factor(z: Tensor, clip: float) -> Tensor:
    """(1 + (z / clip)^2)^-1/2, which times z is the soft clip z / sqrt(1 + (z / clip)^2)."""
    return torch.addcmul(torch.ones((), device=z.device), z, z, value=clip**-2).rsqrt_()


def basis_features(x: Tensor, center: Tensor, scale: Tensor, derivatives: bool = True,
                   basis: str = "base") -> tuple[Tensor, Tensor | None]:
    """Features (B, K, d, b) and (when asked) their derivatives (B, d, K, b), float32, of raw values
    x (B, b, d) under a fixed centre and scale. The derivatives are with respect to the z-score, by
    the chain rule through the soft clip: d phi / dz = phi'(s) ds/dz.

    Rows last: every feature is computed on the transposed chunk straight into its (B, d, b) block of
    the output, so the features are feature-major (B, K * d, b) with no further copy (the Gram
    matrix is then indexed [k * d + i, l * d + j]), and the derivatives are already laid out for the
    per-variable K x K products (one batched matmul). ``basis`` names the features (``BASES``)."""
    return _features(_zscore(x, center, scale), derivatives, basis)


def _features(z: Tensor, derivatives: bool, basis: str, scratch: dict | None = None) -> tuple[Tensor, Tensor | None]:
    """`basis_features` of the z-scores z (B, b, d); with ``scratch`` (see `RunningStats.scratch`) the
    two outputs are buffers kept there from the last call of the same shape, overwritten."""
    z = z.transpose(1, 2).contiguous()  # (B, d, b)
    batch, d, b = z.shape
    waves = WIDE_FREQUENCIES if basis == "wide" else ()
    # Each feature is written straight into its slot (out=): no stack copy afterwards.
    feats = _buffer(scratch, "features", (batch, len(BASES[basis]), d, b), z.device)
    phi = feats.unbind(dim=1)
    r = _clip_factor(z, CLIP)
    s = torch.mul(z, r, out=phi[0])
    s2 = torch.mul(s, s, out=phi[1])
    torch.mul(s2, s, out=phi[2])
    # tanh(s) = 2 sigmoid(2 s) - 1: torch's CPU sigmoid is about 6x faster than its tanh, and the two
    # agree to float32 rounding (2e-7).
    t = torch.sigmoid(s * 2.0, out=phi[3]).mul_(2.0).sub_(1.0)
    torch.log(torch.cosh(s), out=phi[4])
    gauss = torch.exp(s2 * -0.5)
    torch.mul(s, gauss, out=phi[5])
    # exp(-(s -+ 1.5)^2 / 2) = exp(-s^2 / 2) exp(-1.125) exp(+-1.5 s): one more exp, not two.
    rise, scaled_gauss = torch.exp(s * 1.5), gauss * _BUMP_SCALE
    bump_hi = torch.mul(scaled_gauss, rise, out=phi[6])
    bump_lo = torch.div(scaled_gauss, rise, out=phi[7])
    for i, w in enumerate(waves):
        torch.sin(w * s, out=phi[8 + 2 * i])
        torch.cos(w * s, out=phi[9 + 2 * i])
    if not derivatives:
        return feats, None
    deriv = _buffer(scratch, "derivatives", (batch, d, len(BASES[basis]), b), z.device)
    dphi = deriv.unbind(dim=2)  # phi'(s) ds/dz in BASES order
    ds_dz = torch.mul(r * r, r, out=dphi[0])  # (1 + (z/CLIP)^2)^-3/2
    s_ds = s * ds_dz
    torch.mul(s_ds, 2.0, out=dphi[1])
    torch.mul(s, s_ds, out=dphi[2]).mul_(3.0)
    t_ds = torch.mul(t, ds_dz, out=dphi[4])
    torch.addcmul(ds_dz, t, t_ds, value=-1.0, out=dphi[3])  # (1 - t^2) ds/dz
    gauss_ds = gauss * ds_dz
    torch.addcmul(gauss_ds, s2, gauss_ds, value=-1.0, out=dphi[5])  # (1 - s^2) gauss ds/dz
    torch.mul(1.5 - s, bump_hi * ds_dz, out=dphi[6])
    torch.mul(-1.5 - s, bump_lo * ds_dz, out=dphi[7])
    for i, w in enumerate(waves):
        torch.mul(phi[9 + 2 * i], w * ds_dz, out=dphi[8 + 2 * i])
        torch.mul(phi[8 + 2 * i], -w * ds_dz, out=dphi[9 + 2 * i])
    return feats, deriv


def thread_scratch() -> dict:
    """This thread's feature buffers, for the running statistics of every stream it reads: a buffer
    holds data only within one `RunningStats.add`, so streams may share them, threads may not. Kept
    from one dataset to the next, their pages are not taken fresh (a page fault each) every time."""
    if not hasattr(_THREAD, "scratch"):
        _THREAD.scratch = {}
    return _THREAD.scratch


def release_scratch(scratch: dict) -> None:
    """Free the feature buffers in ``scratch`` if they hold more than `KEEP_SCRATCH_BYTES` (at d = 500 a
    4,096-row block's are 130 MB, which the cues need more); smaller ones stay for the next chunk."""
    if sum(t.numel() * t.element_size() for t in scratch.values()) > KEEP_SCRATCH_BYTES:
        scratch.clear()


def _buffer(scratch: dict | None, name: str, shape: tuple[int, ...], device: torch.device) -> Tensor:
    """An uninitialized float32 tensor: ``scratch[name]`` when it has this shape, device and
    inference mode (a new one is kept there), a fresh one without ``scratch``."""
    if scratch is None:
        return torch.empty(shape, device=device)
    kept = scratch.get(name)
    inference = torch.is_inference_mode_enabled()
    if kept is None or kept.shape != shape or kept.device != device or kept.is_inference() != inference:
        kept = scratch[name] = torch.empty(shape, device=device)
    return kept


@dataclass
class RunningStats:
    """Exact sums over all rows seen so far (see the module docstring); float64 throughout.

    ``count`` (B,), ``sums`` (B, d, K), ``gram`` (B, Kd, Kd) over observational rows, feature-major
    (entry [k * d + i, l * d + j] sums phi_k(x_i) phi_l(x_j));
    ``deriv_sums`` (B, d, K) the sums of each feature's derivative and ``deriv_gram`` (B, d, K, K) of
    their products within a variable, over observational rows (None when not tracked: only the
    score-matching cues read them);
    ``int_count`` (B, d) rows with variable j intervened, ``int_sums`` (B, d, d, K): sums of every
    variable's features over those rows (index [j, i, k]); ``center`` / ``scale`` (B, 1, d) the
    standardization fixed by the first chunk; ``basis`` the features (``BASES``; K = its length);
    ``reservoir`` (B, m, d) float32 the sampled rows' clipped z-scores, ``priority`` (B, m) theirs,
    ascending (inf: an empty slot, whose row is zeros), and ``rows_seen`` (B,) the rows read (all
    three None: no sample kept). ``tail_sums`` (B, d, 3) and ``tail_gram`` (B, 3d, 3d), feature-major as
    ``gram``: the sums and the Gram matrix of the powers t, t^2, t^3 of the milder clip t = z / sqrt(1 +
    (z / TAIL_CLIP)^2), over the same rows as ``sums`` (None: not tracked; cues.tail_cues reads them).
    ``pooled`` (`model.pooled_sums`): the count, feature sums, Gram matrix
    and derivative sums cover every row, intervened or not, as if all were observational (the masks
    then feed only the per-target sums and keep intervened rows out of the sample). ``scratch``
    holds `add`'s feature buffers (the model passes its thread's, `thread_scratch`), passed on to the
    sums that `add` returns: a stream of many chunks reuses them instead of taking fresh pages for
    every chunk (each fresh page faults when first written: at 4,096 rows x 20 that was 3 of the
    4 ms the features took). What `add` returns never refers to them; emptying it frees them. The
    sums of no rows (`start`) are expanded zeros that take no memory.
    """

    center: Tensor
    scale: Tensor
    count: Tensor
    sums: Tensor
    gram: Tensor
    deriv_sums: Tensor | None
    deriv_gram: Tensor | None
    int_count: Tensor
    int_sums: Tensor
    basis: str = "base"
    pooled: bool = False
    reservoir: Tensor | None = None
    priority: Tensor | None = None
    rows_seen: Tensor | None = None
    tail_sums: Tensor | None = None
    tail_gram: Tensor | None = None
    scratch: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def d(self) -> int:
        return self.sums.shape[1]

    @property
    def k(self) -> int:
        """Features per variable."""
        return self.sums.shape[2]

    def covariance(self) -> Tensor:
        """(B, dK, dK) float64 covariance of all features over the observational rows, feature-major
        (feature k of variable i at k d + i, as the Gram matrix)."""
        return torch.cat([block for _, block in self.covariance_rows()], dim=1)

    def _flat_means(self) -> tuple[Tensor, Tensor]:
        """(n (B, 1), the feature means (B, dK) feature-major) that `covariance_rows` and `variances` share."""
        n = self.count.clamp_min(1.0)[:, None]
        return n, (self.sums / n[:, :, None]).transpose(1, 2).reshape(self.count.shape[0], self.d * self.k)

    def covariance_rows(self, rows: int = _COVARIANCE_ROWS) -> Iterator[tuple[slice, Tensor]]:
        """`covariance` by blocks of ``rows`` rows, (rows of the block, (B, rows, dK) float64): a
        caller that turns each into something smaller never holds the whole (512 MB at d = 1000)."""
        n, mean = self._flat_means()
        for start in range(0, mean.shape[1], rows):
            part = slice(start, start + rows)
            # The difference in place: one fresh tensor fewer, and each costs its pages' first touch.
            yield part, (self.gram[:, part] / n[:, :, None]).sub_(mean[:, part, None] * mean[:, None, :])

    def variances(self) -> Tensor:
        """(B, dK) float64: the diagonal of `covariance` (the same arithmetic, entry by entry)."""
        n, mean = self._flat_means()
        return torch.diagonal(self.gram, dim1=1, dim2=2) / n - mean * mean

    @classmethod
    def start(cls, first_chunk: Tensor, derivatives: bool = True, basis: str = "base",
              reservoir_rows: int = 0, pooled: bool = False, scratch: dict | None = None,
              tails: bool = False) -> "RunningStats":
        """Empty sums whose standardization is fixed by ``first_chunk`` (B, b, d); ``derivatives``
        says whether to track the derivative sums (a third of the cost of `add`); ``basis`` names
        the features (``BASES``); ``reservoir_rows`` the size of the row sample (0: none); ``scratch``
        the feature buffers `add` writes (`thread_scratch`; default: a new dict); ``tails`` whether to
        track the tails' sums (``tail_sums``, ``tail_gram``)."""
        batch, _, d = first_chunk.shape
        k = len(BASES[basis])
        center, scale = robust_center_scale(first_chunk)

        def zeros(*shape: int) -> Tensor:
            return torch.zeros(*shape, dtype=torch.float64, device=first_chunk.device)

        def no_memory_zeros(*shape: int) -> Tensor:
            """Zeros that take no memory (one element, expanded; nothing writes into the sums in place): the
            Gram matrix of no rows held 1.15 GB at d = 1500 while the first chunk's was made beside it."""
            return torch.zeros((), dtype=torch.float64, device=first_chunk.device).expand(*shape)

        stats = cls(center, scale, zeros(batch), zeros(batch, d, k), no_memory_zeros(batch, d * k, d * k),
                    zeros(batch, d, k) if derivatives else None, zeros(batch, d, k, k) if derivatives else None,
                    zeros(batch, d), no_memory_zeros(batch, d, d, k), basis, pooled,
                    tail_sums=zeros(batch, d, 3) if tails else None,
                    tail_gram=no_memory_zeros(batch, 3 * d, 3 * d) if tails else None,
                    scratch={} if scratch is None else scratch)
        return stats._empty_sample(reservoir_rows, zeros(batch)) if reservoir_rows else stats

    def _empty_sample(self, rows: int, rows_seen: Tensor) -> "RunningStats":
        """The same sums with an empty row sample of ``rows`` slots, ``rows_seen`` rows already read."""
        batch, d = self.count.shape[0], self.d
        return replace(self, reservoir=torch.zeros(batch, rows, d, device=self.count.device),
                       priority=torch.full((batch, rows), math.inf, dtype=torch.float64, device=self.count.device),
                       rows_seen=rows_seen)

    def fresh(self) -> "RunningStats":
        """Empty sums (and row sample) with the same standardization (for per-chunk statistics)."""
        empty = RunningStats(self.center, self.scale, **{k: None if v is None else torch.zeros_like(v)
                                                         for k, v in self._sums().items()}, basis=self.basis,
                             pooled=self.pooled)
        return empty if self.reservoir is None else empty._empty_sample(self.reservoir.shape[1],
                                                                        torch.zeros_like(self.rows_seen))

    def _sums(self) -> dict[str, Tensor | None]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_SUMS}

    def prefixes(self, chunks: Tensor, mask: Tensor | None = None) -> "RunningStats":
        """The sums after each prefix of T more chunks, in one pass: ``chunks`` (B, T, b, d) (``mask``
        likewise) give a batch of T * B, whose row t * B + i is what t + 1 calls of `add` give for row i."""
        batch, steps, b, d = chunks.shape

        def tiled(t: Tensor) -> Tensor:  # row t * B + i holds row i
            return t.repeat(steps, *([1] * (t.ndim - 1)))

        def time_major(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.transpose(0, 1).reshape(steps * batch, b, d)

        empty = RunningStats(tiled(self.center), tiled(self.scale), basis=self.basis, pooled=self.pooled,
                             **{k: None if v is None else tiled(torch.zeros_like(v)) for k, v in self._sums().items()})
        if self.reservoir is not None:  # row t * B + i starts at task i's row count after t chunks
            offsets = torch.arange(steps, dtype=torch.float64, device=chunks.device).repeat_interleave(batch) * b
            empty = empty._empty_sample(self.reservoir.shape[1], tiled(self.rows_seen) + offsets)
        per_chunk = empty.add(time_major(chunks), time_major(mask))
        summed = {}
        for name, base in self._sums().items():
            if base is not None:
                running = getattr(per_chunk, name).view(steps, *base.shape).cumsum(dim=0)
                summed[name] = (running + base).view(steps * batch, *base.shape[1:])
            else:
                summed[name] = None
        merged = RunningStats(per_chunk.center, per_chunk.scale, **summed, basis=self.basis, pooled=self.pooled)
        if self.reservoir is None:
            return merged
        # The sample of a union is the lowest priorities of the two samples: merge chunk by chunk.
        samples, sample = [], (self.reservoir, self.priority)
        for t in range(steps):
            rows = slice(t * batch, (t + 1) * batch)
            sample = _lowest(*sample, per_chunk.reservoir[rows], per_chunk.priority[rows])
            samples.append(sample)
        return replace(merged, reservoir=torch.cat([r for r, _ in samples]), priority=torch.cat([p for _, p in samples]),
                       rows_seen=per_chunk.rows_seen)

    def add(self, chunk: Tensor, mask: Tensor | None = None) -> "RunningStats":
        """New sums with one more chunk (B, b, d) of raw values; ``mask`` (B, b, d) marks intervened cells."""
        batch, b, d = chunk.shape
        tracked = self.deriv_sums is not None
        z = _zscore(chunk, self.center, self.scale)  # once: the features and the row sample read it
        phi, deriv = _features(z, tracked, self.basis, self.scratch)  # (B, K, d, b), (B, d, K, b)
        k = phi.shape[1]
        flat = phi.view(batch, k * d, b)
        if mask is None or self.pooled:
            weighted, observed = flat, float(b)
        else:
            observational = (~mask.any(dim=2)).float()
            weighted, observed = flat * observational[:, None, :], observational.sum(dim=1).double()
        gram = _add_gram(self.gram, weighted, flat)
        sums = self.sums + weighted.sum(dim=2).view(batch, k, d).transpose(1, 2).double()
        count = self.count + observed
        deriv_sums, deriv_gram = self.deriv_sums, self.deriv_gram
        if tracked:
            # Derivative sums for the score-matching cues, over the same rows as the features; the
            # per-variable K x K products are one batched matmul over rows.
            deriv_w = deriv if mask is None or self.pooled else deriv * observational[:, None, None, :]
            deriv_sums = deriv_sums + deriv_w.sum(dim=-1).double()
            deriv_gram = deriv_gram + (deriv_w @ deriv.transpose(-1, -2)).double()
        tail_sums, tail_gram = self.tail_sums, self.tail_gram
        if tail_sums is not None:
            z_t = z.transpose(1, 2)  # (B, d, b)
            t = z_t * _clip_factor(z_t, TAIL_CLIP)
            t2 = t * t
            powers = torch.cat([t, t2, t2 * t], dim=1)  # (B, 3d, b) feature-major
            weighted_t = powers if mask is None or self.pooled else powers * observational[:, None, :]
            tail_gram = _add_gram(tail_gram, weighted_t, powers)
            tail_sums = tail_sums + weighted_t.sum(dim=2).view(batch, 3, d).transpose(1, 2).double()
        int_count, int_sums = self.int_count, self.int_sums
        if mask is not None:
            m = mask.float()
            int_count = int_count + m.sum(dim=1).double()
            int_sums = int_sums + torch.einsum("brj,bkir->bjik", m, phi).double()
        added = RunningStats(self.center, self.scale, count, sums, gram, deriv_sums, deriv_gram, int_count, int_sums,
                             self.basis, self.pooled, tail_sums=tail_sums, tail_gram=tail_gram, scratch=self.scratch)
        if self.reservoir is None:
            return added
        index = self.rows_seen[:, None] + torch.arange(b, dtype=torch.float64, device=chunk.device)
        priority = torch.frac(index * _GOLDEN)
        if mask is not None:
            priority = torch.where(mask.any(dim=2), math.inf, priority)
        reservoir, priority = _lowest(self.reservoir, self.priority, z.clamp(-SAMPLE_CLIP, SAMPLE_CLIP), priority)
        return replace(added, reservoir=reservoir, priority=priority, rows_seen=self.rows_seen + b)


def _add_gram(gram: Tensor, weighted: Tensor, flat: Tensor) -> Tensor:
    """gram (B, n, n) float64 plus weighted @ flat^T (B, n, b) float32, a symmetric product (the
    weights are 0 / 1 per row). On long chunks, by blocks of features: each block of rows against
    itself and the blocks after it, its transpose filling the lower triangle: 3/4 of the full
    product's work with two blocks, 5/8 with four (the same entries: each is one dot product)."""
    n, rows = flat.shape[1], flat.shape[2]
    parts = min(4, n // 64) if rows >= _GRAM_BLOCK_ROWS else 1
    if parts <= 1:
        return gram + (weighted @ flat.transpose(1, 2)).double()
    out, flat_t, step = gram.clone(), flat.transpose(1, 2), math.ceil(n / parts)
    for start in range(0, n, step):
        block = (weighted[:, start : start + step] @ flat_t[:, :, start:]).double()
        out[:, start : start + step, start:] += block
        out[:, start + step :, start : start + step] += block[:, :, step:].transpose(1, 2)
    return out


# Fields that are not sums over rows.
_NOT_SUMS = ("center", "scale", "basis", "pooled", "reservoir", "priority", "rows_seen", "scratch")


def _lowest(rows_a: Tensor, priority_a: Tensor, rows_b: Tensor, priority_b: Tensor) -> tuple[Tensor, Tensor]:
    """The m = rows_a.shape[1] rows of lowest priority among both sets (B, m|b, d), sorted, with
    their priorities; empty slots (priority inf) hold zeros."""
    priority, rows = torch.cat([priority_a, priority_b], dim=1), torch.cat([rows_a, rows_b], dim=1)
    kept, index = priority.topk(rows_a.shape[1], dim=1, largest=False, sorted=True)
    picked = rows.gather(1, index[:, :, None].expand(-1, -1, rows.shape[2]))
    return torch.where(torch.isinf(kept)[:, :, None], 0.0, picked), kept

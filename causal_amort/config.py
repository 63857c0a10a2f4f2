"""Run configuration: three typed sections ([model], [data], [train]) loaded from TOML.

Named sizes (`tiny`, `small`, `base`) are the TOML files in `causal_amort/configs/`; any
other argument is a path to a TOML file. Keys a file leaves out take the dataclass
defaults. Overrides are dotted keys (`"train.steps"`); a value given as a string (from a
command line) is parsed to the field's type. Every unknown key or ill-typed value is an
`InputError` that names it, so a typo never silently trains the wrong model.
"""
from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from causal_amort.model.cues import CUE_GROUPS
from causal_amort.model.kernel_cues import MIN_ROWS
from causal_amort.model.sufficient import BASES
from simulators.core.errors import InputError
from simulators.core.toml_value import as_type

CONFIG_DIR = Path(__file__).parent / "configs"
NAMED_SIZES = ("tiny", "small", "base")
# Every TOML file in configs/ can be named without its path (sizes and shipped recipes).
NAMED_CONFIGS = tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.toml")))
DECODERS = ("causal", "sort")
ENCODERS = ("cells", "stats")
D_DISTRIBUTIONS = ("uniform", "loguniform")
LOSS_CHUNKS = ("all", "last")
STATE_MODES = ("carry", "none", "average", "causal")


@dataclass
class ModelConfig:
    """Sizes and ablation switches of `causal_amort.model.order_model.OrderModel`."""

    dim: int = 64
    heads: int = 4
    enc_layers: int = 2
    dec_layers: int = 2
    ff_mult: int = 2
    dropout: float = 0.0
    decoder: str = "causal"  # "causal": masked pointer decoder; "sort": one score per variable
    state: str = "carry"  # "carry" | "none" | "average" | "causal" (stats only), see OrderModel.advance
    encoder: str = "cells"  # "cells": per-cell axial encoder; "stats": streamed sufficient statistics
    pair_dim: int = 32  # width of the stats encoder's pair channel
    score_cues: bool = False  # stats encoder: add the streamed score-matching leaf test to the cues
    drop_cues: str = ""  # stats encoder ablation: cue groups set to zero, comma-separated (cues.CUE_GROUPS)
    cue_dropout: float = 0.0  # stats encoder, training only: chance that a cue group reads as zeros in a task
    cue_dropout_keep: str = ""  # cue groups that cue_dropout never drops, comma-separated (cues.CUE_GROUPS)
    basis: str = "base"  # stats encoder: the features summed per variable, sufficient.BASES ("wide" adds waves)
    kernel_rows: int = 0  # stats encoder: rows sampled for the kernel score cues (kernel_cues.py); 0: none
    leaf_cues: bool = False  # stats encoder: SCORE's leaf removal on the score cues' fit as cues (leaf_cues.py)
    # stats encoder: the moment cues again on a milder clip that keeps moderate kurtosis (cues.tail_cues),
    # read by their own embeddings whose output starts at zero
    tail_cues: bool = False
    # stats encoder: rows sampled for DirectLiNGAM's search, whose order becomes cues (sample_lingam.py); 0: none
    lingam_rows: int = 0
    # stats encoder with lingam_rows: its embeddings also read the base cues (so that they can tell linear
    # data); false: only the order's own columns, so nothing new reads the base cues
    lingam_reads_base: bool = True
    # stats encoder with lingam_rows: run the search only where the data look linear, the largest gain of a
    # variable's additive R^2 over its linear R^2 (the cues r2_additive_gain) at most this; elsewhere its cues
    # are zeros and its embeddings add nothing (the network is its source there, bit for bit); 0: always run
    lingam_gate: float = 0.0
    # stats encoder with lingam_rows: no search on data with more variables than this (its cost grows as d^3:
    # about 10 s at d = 500 on one thread), the same zeros as a closed gate; 0: no cap
    lingam_max_d: int = 0
    # stats encoder with lingam_rows: run the search only where some variable of the row sample is this far from
    # Gaussian (the largest moment negentropy, skew^2 / 12 + kurtosis^2 / 48; sample_lingam.sample_negentropy):
    # with Gaussian noise DirectLiNGAM's order is arbitrary; elsewhere as a closed gate; 0: no test
    lingam_min_negentropy: float = 0.0
    # stats encoder with lingam_rows: drop the search's order where its residuals' spread grows with their linear
    # fits (the mean of m * corr^2 of their sizes; sample_lingam.search_heteroscedasticity) above this: a monotone
    # distortion after the sum, where the order misleads; elsewhere as a closed gate; 0: no test
    lingam_max_heteroscedasticity: float = 0.0
    # stats encoder with lingam_rows: drop the search's order where the residuals it leaves look Gaussian (the median
    # over the variables of m times their moment negentropy; sample_lingam.residual_negentropy) below this: with
    # Gaussian noise its order is arbitrary even where a non-Gaussian root passes the test above; 0: no test
    lingam_min_residual_negentropy: float = 0.0
    # stats encoder with lingam_rows: the search's embeddings also read the skew and kurtosis of each variable's
    # residual given those placed before it (sample_lingam.SAMPLE_LINGAM_MOMENT_CUES), by their own embedding
    # that starts at zero: what noise the search faced, which decides how far its order is right
    lingam_residual_moments: bool = False
    # stats encoder with lingam_rows: at each step of the search, its this many likeliest roots by the moment
    # measure are scored again with Hyvarinen's maximum-entropy approximation (sample_lingam._rerank), which
    # heavy tails sway less; 0: no re-ranking
    lingam_rerank: int = 0
    # stats encoder with lingam_rows: drop the search's order where its residuals correlate with curved functions
    # of their linear fits (the mean of m * corr^2; sample_lingam.search_curvature, a RESET test) above this: a
    # nonlinear SCM that the linearity gate let through, where the order misleads; elsewhere as a closed gate;
    # 0: no test
    lingam_max_curvature: float = 0.0
    # stats encoder with lingam_rows: on data with no row intervened on, the search (and its tests) read only
    # the sampled rows where no variable reached the sample's clip (|z| = sufficient.SAMPLE_CLIP): a clipped
    # value bends a linear relation in the tails, so on Cauchy-like noise the tests would drop a right order;
    # fewer rows than the search needs (kernel_cues.MIN_ROWS) left: its cues are zeros, as where a test drops it
    lingam_unclipped_rows: bool = False
    # stats encoder with lingam_rows: where the search's order survives its gate and tests, on data with no row
    # intervened on, the decoder's logits get minus this times each variable's rank in that order
    # (decoding.BiasedSteps), so a large value hands the order over (constraints still honoured; each pick's
    # confidence then near 1); 0: the network decides alone
    lingam_order_bias: float = 0.0
    # stats encoder with lingam_order_bias: the bias applies only to data with at least this many variables (the
    # search's tests are means over the variables it explains: one at d = 2); 2: every d
    lingam_order_min_d: int = 2
    # inference only: a column with 2 to this many distinct values in the rows that fix the standardization
    # (a flag, an ordinal scale) has each value spread uniformly over its level's bin before the model reads
    # it (`inference.dequantize`; the model was trained on continuous values); 0: read as it is
    dequantize_levels: int = 0
    # stats encoder: conditional decoding, the residual variances of the unplaced variables given the
    # placed ones (Schur complements of the feature correlation) read by a head added to the logits
    conditional_head: bool = False
    edge_head: bool = False  # stats encoder: a linear head on the pair channel scoring direct edges (train.edge_loss)
    # stats encoder: the interventional cues read by their own bias-free embeddings, silent on observational
    # data (stats_encoder.InterventionHead); fine-tuned alone (train.train_only) it adds what masks say
    intervention_head: bool = False
    # stats encoder, interventional data: every cue but the interventional ones reads sums over all rows,
    # intervened or not, as if observational (sufficient.RunningStats.pooled); observational data: no change
    pooled_sums: bool = False

    @property
    def dropped_cue_groups(self) -> tuple[str, ...]:
        return _group_list(self.drop_cues)

    @property
    def undroppable_cue_groups(self) -> tuple[str, ...]:
        return _group_list(self.cue_dropout_keep)

    @property
    def cue_flags(self) -> dict[str, bool]:
        """Which optional cue groups the stats encoder reads, as `cues.compute_cues` takes them."""
        return {"score": self.score_cues, "kernel": self.kernel_rows > 0, "leaf": self.leaf_cues,
                "tails": self.tail_cues, "lingam": self.lingam_rows > 0, "lingam_moments": self.lingam_residual_moments}

    @property
    def lingam_gated(self) -> bool:
        """Whether the sample LiNGAM search may be skipped on some data (its cues then zeros): a gate, a test
        or a cap on d is set."""
        return (self.lingam_gate > 0 or self.lingam_max_d > 0 or self.lingam_min_negentropy > 0
                or self.lingam_max_heteroscedasticity > 0 or self.lingam_min_residual_negentropy > 0
                or self.lingam_max_curvature > 0)

    @property
    def reservoir_rows(self) -> int:
        """Rows the running statistics sample for the cues that read rows (kernel or sample LiNGAM)."""
        return max(self.kernel_rows, self.lingam_rows)


@dataclass
class DataConfig:
    """Training data: simulated on the fly from `preset`, or read from `suite` when set."""

    preset: str = "train"
    suite: str = ""
    d_min: int = 3
    d_max: int = 10
    d_dist: str = "uniform"  # "uniform" or "loguniform" over [d_min, d_max] (large d cost more per task)
    chunk_size: int = 50
    chunks_min: int = 1
    chunks_max: int = 4
    batch_size: int = 16
    workers: int = 0
    standardize: bool = True
    # Simulated tasks only: the chance that a batch's SCMs come with perfect interventions, on K targets
    # each (K uniform in 1..d; the rows split into K + 1 regimes, sample.sample_dataset); 0: observational
    intervention_prob: float = 0.0


@dataclass
class TrainConfig:
    """Optimisation, validation and checkpointing. An `*_every` of 0 disables that action."""

    steps: int = 300
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    grad_clip: float = 1.0  # 0 disables clipping
    tbptt: int = 1  # chunks a gradient flows back through; 1 = stop-gradient between steps
    loss_chunks: str = "all"  # "all": a loss after every chunk; "last": only after a task's last chunk
    # Weight of the must-precede loss: the causal decoder's pairwise beliefs ("i must come before
    # j") against the true ancestor relation, added to the order loss (0: off, the order loss alone).
    precede_loss: float = 0.0
    # Weight of the edge loss: the pair channel's direct-edge beliefs (model.edge_head) against the
    # true graph, added likewise (0: off). Decoding never reads the head: it only shapes the pair channel.
    edge_loss: float = 0.0
    # Parameter-name prefixes, comma-separated, of what the optimizer updates (e.g. "encoder.intervention.");
    # empty: every parameter. The rest stays frozen at its initial (or --init) values.
    train_only: str = ""
    seed: int = 0
    log_every: int = 10
    val_every: int = 100
    val_datasets: int = 8
    val_d: int = 8
    val_n: int = 200
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    device: str = "auto"
    bf16: bool = False
    init: str = ""  # weights a fresh run starts from ("default", a checkpoint or a run folder); "": random


@dataclass
class RunConfig:
    """A whole run: what `runs/<name>/config.toml` holds."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


SECTIONS: dict[str, type] = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}


def _group_list(text: str) -> tuple[str, ...]:
    """Cue group names from a comma-separated setting."""
    return tuple(g.strip() for g in text.split(",") if g.strip())


def load_config(name_or_path: str, overrides: dict[str, object] | None = None) -> RunConfig:
    """A named size or a TOML file, with dotted-key `overrides` applied, validated."""
    if name_or_path in NAMED_CONFIGS:
        path = CONFIG_DIR / f"{name_or_path}.toml"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise InputError(
                f"config {name_or_path!r} is neither a named config ({', '.join(NAMED_CONFIGS)}) nor a file"
            )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"config {str(path)!r} is not valid TOML: {exc}") from None
    for key, value in (overrides or {}).items():
        section, dot, name = key.partition(".")
        if not dot or section not in SECTIONS or not name:
            raise InputError(
                f"unknown config key {key!r}: expected <section>.<field> with section in {', '.join(SECTIONS)}"
            )
        table = raw.setdefault(section, {})
        if not isinstance(table, dict):
            raise InputError(f"config section [{section}] must be a table")
        table[name] = value
    return config_from_dict(raw)


def config_from_dict(raw: dict) -> RunConfig:
    """Build and validate a RunConfig from nested dicts (TOML or checkpoint JSON)."""
    if not isinstance(raw, dict):
        raise InputError("config must be a table of sections")
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise InputError(f"unknown config section {unknown[0]!r}; known: {', '.join(SECTIONS)}")
    parts = {}
    for section, cls in SECTIONS.items():
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise InputError(f"config section [{section}] must be a table")
        parts[section] = _build_section(section, cls, table)
    cfg = RunConfig(**parts)
    _validate(cfg)
    return cfg


def config_to_dict(cfg: RunConfig) -> dict[str, dict[str, object]]:
    """Nested plain dicts, JSON- and TOML-ready."""
    return dataclasses.asdict(cfg)


def config_to_toml(cfg: RunConfig) -> str:
    """The resolved config as TOML text; `load_config` reads it back to an equal RunConfig."""
    return tomli_w.dumps(config_to_dict(cfg))


def config_warnings(cfg: RunConfig) -> list[str]:
    """Valid settings that are probably a mistake, one line each (the CLI prints them)."""
    t = cfg.train
    warnings = []
    if t.warmup_steps >= t.steps:
        warnings.append(f"train.warmup_steps ({t.warmup_steps}) >= train.steps ({t.steps}): the learning rate "
                        "never reaches train.lr and never decays; lower it with --set train.warmup_steps=N")
    return warnings


def _build_section(section: str, cls: type, table: dict) -> object:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for name, value in table.items():
        if name not in known:
            raise InputError(f"unknown config key '{section}.{name}'")
        values[name] = _coerce(f"{section}.{name}", value, hints[name])
    return cls(**values)


def _coerce(key: str, value: object, typ: type) -> object:
    """`value` as `typ`; strings from a command line are parsed, anything else must already fit."""
    if isinstance(value, str) and typ is not str:
        text = value.strip()
        if typ is bool:
            if text.lower() in ("true", "false"):
                return text.lower() == "true"
        else:
            try:
                return typ(text)
            except ValueError:
                pass
    else:
        try:
            return as_type(value, typ)
        except TypeError:
            pass
    raise InputError(f"config key {key!r} must be {typ.__name__}, got {value!r}")


def _validate(cfg: RunConfig) -> None:
    m, d, t = cfg.model, cfg.data, cfg.train
    checks = [
        (m.dim >= 1 and m.heads >= 1 and m.dim % m.heads == 0, "model.dim must be a positive multiple of model.heads"),
        (m.enc_layers >= 1, "model.enc_layers must be >= 1"),
        (m.dec_layers >= 1, "model.dec_layers must be >= 1"),
        (m.ff_mult >= 1, "model.ff_mult must be >= 1"),
        (0.0 <= m.dropout < 1.0, "model.dropout must be in [0, 1)"),
        (m.decoder in DECODERS, f"model.decoder must be one of {', '.join(DECODERS)}, got {m.decoder!r}"),
        (m.state in STATE_MODES, f"model.state must be one of {', '.join(STATE_MODES)}, got {m.state!r}"),
        (m.encoder in ENCODERS, f"model.encoder must be one of {', '.join(ENCODERS)}, got {m.encoder!r}"),
        (m.pair_dim >= 1, "model.pair_dim must be >= 1"),
        (m.state != "causal" or m.encoder == "stats", "model.state = causal needs model.encoder = stats"),
        (set(m.dropped_cue_groups) <= set(CUE_GROUPS),
         f"model.drop_cues takes cue groups among {', '.join(CUE_GROUPS)}, got {m.drop_cues!r}"),
        (not m.drop_cues or m.encoder == "stats", "model.drop_cues needs model.encoder = stats"),
        (0.0 <= m.cue_dropout < 1.0, "model.cue_dropout must be in [0, 1)"),
        (set(m.undroppable_cue_groups) <= set(CUE_GROUPS),
         f"model.cue_dropout_keep takes cue groups among {', '.join(CUE_GROUPS)}, got {m.cue_dropout_keep!r}"),
        (not m.cue_dropout_keep or m.cue_dropout > 0, "model.cue_dropout_keep needs model.cue_dropout > 0"),
        (m.cue_dropout == 0.0 or m.encoder == "stats", "model.cue_dropout needs model.encoder = stats"),
        (m.basis in BASES, f"model.basis must be one of {', '.join(BASES)}, got {m.basis!r}"),
        (m.basis == "base" or m.encoder == "stats", "model.basis needs model.encoder = stats"),
        (m.kernel_rows == 0 or m.kernel_rows >= MIN_ROWS,
         f"model.kernel_rows must be 0 (no kernel score cues) or at least {MIN_ROWS}"),
        (m.kernel_rows == 0 or m.encoder == "stats", "model.kernel_rows needs model.encoder = stats"),
        (m.lingam_rows == 0 or m.lingam_rows >= MIN_ROWS,
         f"model.lingam_rows must be 0 (no sample LiNGAM cues) or at least {MIN_ROWS}"),
        (m.lingam_rows == 0 or m.encoder == "stats", "model.lingam_rows needs model.encoder = stats"),
        (m.lingam_reads_base or m.lingam_rows > 0, "model.lingam_reads_base = false needs model.lingam_rows > 0"),
        (m.lingam_gate >= 0.0, "model.lingam_gate must be >= 0 (0: the search always runs)"),
        (m.lingam_gate == 0.0 or m.lingam_rows > 0, "model.lingam_gate needs model.lingam_rows > 0"),
        (m.lingam_max_d >= 0, "model.lingam_max_d must be >= 0 (0: no cap)"),
        (m.lingam_max_d == 0 or m.lingam_rows > 0, "model.lingam_max_d needs model.lingam_rows > 0"),
        (m.lingam_min_negentropy >= 0.0, "model.lingam_min_negentropy must be >= 0 (0: no test)"),
        (m.lingam_min_negentropy == 0.0 or m.lingam_rows > 0, "model.lingam_min_negentropy needs model.lingam_rows > 0"),
        (m.lingam_max_heteroscedasticity >= 0.0, "model.lingam_max_heteroscedasticity must be >= 0 (0: no test)"),
        (m.lingam_max_heteroscedasticity == 0.0 or m.lingam_rows > 0,
         "model.lingam_max_heteroscedasticity needs model.lingam_rows > 0"),
        (m.lingam_min_residual_negentropy >= 0.0, "model.lingam_min_residual_negentropy must be >= 0 (0: no test)"),
        (m.lingam_min_residual_negentropy == 0.0 or m.lingam_rows > 0,
         "model.lingam_min_residual_negentropy needs model.lingam_rows > 0"),
        (not m.lingam_residual_moments or m.lingam_rows > 0, "model.lingam_residual_moments needs model.lingam_rows > 0"),
        (m.lingam_rerank == 0 or m.lingam_rerank >= 2, "model.lingam_rerank must be 0 (no re-ranking) or at least 2"),
        (m.lingam_rerank == 0 or m.lingam_rows > 0, "model.lingam_rerank needs model.lingam_rows > 0"),
        (m.lingam_max_curvature >= 0.0, "model.lingam_max_curvature must be >= 0 (0: no test)"),
        (m.lingam_max_curvature == 0.0 or m.lingam_rows > 0, "model.lingam_max_curvature needs model.lingam_rows > 0"),
        (not m.lingam_unclipped_rows or m.lingam_rows > 0, "model.lingam_unclipped_rows needs model.lingam_rows > 0"),
        (m.lingam_order_bias >= 0.0, "model.lingam_order_bias must be >= 0 (0: the network decides alone)"),
        (m.lingam_order_bias == 0.0 or m.lingam_rows > 0, "model.lingam_order_bias needs model.lingam_rows > 0"),
        (m.lingam_order_min_d >= 2, "model.lingam_order_min_d must be >= 2 (2: every d)"),
        (m.dequantize_levels == 0 or m.dequantize_levels >= 2,
         "model.dequantize_levels must be 0 (read values as they are) or at least 2"),
        (m.lingam_rows == 0 or m.kernel_rows == 0,
         "model.lingam_rows and model.kernel_rows read the same row sample: set one of them"),
        (not m.leaf_cues or (m.encoder == "stats" and m.score_cues),
         "model.leaf_cues needs model.encoder = stats and model.score_cues = true"),
        (not m.edge_head or m.encoder == "stats", "model.edge_head needs model.encoder = stats"),
        (not m.tail_cues or m.encoder == "stats", "model.tail_cues needs model.encoder = stats"),
        (not m.conditional_head or m.encoder == "stats", "model.conditional_head needs model.encoder = stats"),
        (not m.intervention_head or m.encoder == "stats", "model.intervention_head needs model.encoder = stats"),
        (not m.pooled_sums or m.encoder == "stats", "model.pooled_sums needs model.encoder = stats"),
        (2 <= d.d_min <= d.d_max, "data.d_min and data.d_max must satisfy 2 <= d_min <= d_max"),
        (d.d_dist in D_DISTRIBUTIONS, f"data.d_dist must be one of {', '.join(D_DISTRIBUTIONS)}, got {d.d_dist!r}"),
        (d.chunk_size >= 1, "data.chunk_size must be >= 1"),
        (1 <= d.chunks_min <= d.chunks_max, "data.chunks_min and data.chunks_max must satisfy 1 <= min <= max"),
        (d.batch_size >= 1, "data.batch_size must be >= 1"),
        (d.workers >= 0, "data.workers must be >= 0"),
        (0.0 <= d.intervention_prob <= 1.0, "data.intervention_prob must be in [0, 1]"),
        (d.intervention_prob == 0.0 or not d.suite, "data.intervention_prob needs simulated tasks (data.suite empty)"),
        (t.steps >= 1, "train.steps must be >= 1"),
        (t.lr > 0, "train.lr must be > 0"),
        (t.weight_decay >= 0, "train.weight_decay must be >= 0"),
        (t.warmup_steps >= 0, "train.warmup_steps must be >= 0"),
        (t.grad_clip >= 0, "train.grad_clip must be >= 0"),
        (t.tbptt >= 1, "train.tbptt must be >= 1"),
        (t.loss_chunks in LOSS_CHUNKS, f"train.loss_chunks must be one of {', '.join(LOSS_CHUNKS)}, got {t.loss_chunks!r}"),
        (t.precede_loss >= 0, "train.precede_loss must be >= 0"),
        (t.precede_loss == 0 or m.decoder == "causal", "train.precede_loss needs model.decoder = causal"),
        (t.edge_loss >= 0, "train.edge_loss must be >= 0"),
        (t.edge_loss == 0 or m.edge_head, "train.edge_loss needs model.edge_head = true"),
        (t.log_every >= 1, "train.log_every must be >= 1"),
        (t.val_every >= 0 and t.val_datasets >= 0, "train.val_every and train.val_datasets must be >= 0"),
        (t.val_d >= 2 and t.val_n >= 1, "train.val_d must be >= 2 and train.val_n >= 1"),
        (t.checkpoint_every >= 0, "train.checkpoint_every must be >= 0"),
        (t.keep_checkpoints >= 1, "train.keep_checkpoints must be >= 1"),
        (bool(t.device.strip()), "train.device must not be empty (use 'auto')"),
    ]
    for ok, message in checks:
        if not ok:
            raise InputError(message)

"""Config loading: named sizes, dotted overrides with type checks, unknown keys, round trip."""
import pytest

from causal_amort.config import (
    NAMED_SIZES,
    RunConfig,
    config_from_dict,
    config_to_dict,
    config_to_toml,
    load_config,
)
from causal_amort.model.order_model import OrderModel
from simulators.core.errors import InputError


@pytest.mark.parametrize("name", NAMED_SIZES)
def test_named_sizes_load_and_round_trip(name, tmp_path):
    cfg = load_config(name)
    assert isinstance(cfg, RunConfig)
    path = tmp_path / "config.toml"
    path.write_text(config_to_toml(cfg))
    assert load_config(str(path)) == cfg
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_named_files_set_every_field():
    # A named size that leaned on dataclass defaults would drift when a default changes.
    import tomllib

    from causal_amort.config import CONFIG_DIR

    full = config_to_dict(RunConfig())
    for name in NAMED_SIZES:
        raw = tomllib.loads((CONFIG_DIR / f"{name}.toml").read_text())
        assert {s: set(t) for s, t in raw.items()} == {s: set(t) for s, t in full.items()}


def test_sizes_grow_and_tiny_is_tiny():
    counts = [sum(p.numel() for p in OrderModel(load_config(n).model).parameters()) for n in NAMED_SIZES]
    assert 100_000 <= counts[0] <= 300_000
    assert counts[0] < counts[1] < counts[2]


def test_overrides_parse_strings_and_accept_typed_values():
    cfg = load_config(
        "tiny",
        {"train.steps": "12", "train.lr": 3, "train.bf16": "true", "model.state": "average", "data.suite": "x/y"},
    )
    assert cfg.train.steps == 12
    assert cfg.train.lr == 3.0 and isinstance(cfg.train.lr, float)
    assert cfg.train.bf16 is True
    assert cfg.model.state == "average"
    assert cfg.data.suite == "x/y"


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"train.stpes": 5}, "train.stpes"),
        ({"trian.steps": 5}, "trian.steps"),
        ({"steps": 5}, "steps"),
        ({"train.steps": "many"}, "train.steps"),
        ({"train.steps": 2.5}, "train.steps"),
        ({"train.steps": True}, "train.steps"),
        ({"train.bf16": "yes"}, "train.bf16"),
        ({"data.preset": 3}, "data.preset"),
        ({"model.decoder": "rnn"}, "model.decoder"),
        ({"model.encoder": "stats", "model.drop_cues": "lingam,astrology"}, "model.drop_cues"),
        ({"model.encoder": "cells", "model.drop_cues": "lingam"}, "model.drop_cues needs"),
        ({"model.encoder": "stats", "model.cue_dropout": 0.1, "model.cue_dropout_keep": "moments,tea"},
         "model.cue_dropout_keep takes"),
        ({"model.encoder": "stats", "model.cue_dropout_keep": "moments"}, "model.cue_dropout_keep needs"),
        ({"model.encoder": "stats", "model.basis": "fourier"}, "model.basis must be one of base, wide"),
        ({"model.encoder": "cells", "model.basis": "wide"}, "model.basis needs"),
        ({"model.encoder": "stats", "model.kernel_rows": 5}, "model.kernel_rows must be 0"),
        ({"model.encoder": "cells", "model.kernel_rows": 64}, "model.kernel_rows needs"),
        ({"model.encoder": "stats", "model.lingam_rows": 5}, "model.lingam_rows must be 0"),
        ({"model.encoder": "cells", "model.lingam_rows": 64}, "model.lingam_rows needs"),
        ({"model.encoder": "stats", "model.lingam_rows": 64, "model.kernel_rows": 64}, "read the same row sample"),
        ({"model.encoder": "stats", "model.lingam_reads_base": False}, "model.lingam_reads_base = false needs"),
        ({"model.encoder": "stats", "model.lingam_gate": 0.06}, "model.lingam_gate needs model.lingam_rows > 0"),
        ({"model.encoder": "stats", "model.lingam_rows": 64, "model.lingam_gate": -0.1}, "model.lingam_gate must be >= 0"),
        ({"model.encoder": "stats", "model.lingam_max_d": 100}, "model.lingam_max_d needs model.lingam_rows > 0"),
        ({"model.encoder": "stats", "model.lingam_rows": 64, "model.lingam_max_d": -1}, "model.lingam_max_d must be >= 0"),
        ({"model.encoder": "stats", "model.lingam_min_negentropy": 0.01}, "model.lingam_min_negentropy needs"),
        ({"model.encoder": "stats", "model.lingam_rows": 64, "model.lingam_min_negentropy": -1.0},
         "model.lingam_min_negentropy must be >= 0"),
        ({"model.encoder": "stats", "model.lingam_max_heteroscedasticity": 3.0},
         "model.lingam_max_heteroscedasticity needs"),
        ({"model.encoder": "stats", "model.lingam_rows": 64, "model.lingam_max_heteroscedasticity": -1.0},
         "model.lingam_max_heteroscedasticity must be >= 0"),
        ({"model.encoder": "stats", "model.lingam_min_residual_negentropy": 10.0},
         "model.lingam_min_residual_negentropy needs"),
        ({"model.encoder": "stats", "model.lingam_rows": 64, "model.lingam_min_residual_negentropy": -1.0},
         "model.lingam_min_residual_negentropy must be >= 0"),
        ({"model.encoder": "stats", "model.lingam_residual_moments": True}, "model.lingam_residual_moments needs"),
        ({"model.encoder": "stats", "model.lingam_rerank": 3}, "model.lingam_rerank needs"),
        ({"model.encoder": "stats", "model.lingam_max_curvature": 5.0}, "model.lingam_max_curvature needs"),
        ({"model.encoder": "stats", "model.lingam_rows": 64, "model.lingam_max_curvature": -1.0},
         "model.lingam_max_curvature must be >= 0"),
        ({"model.encoder": "stats", "model.lingam_rows": 64, "model.lingam_rerank": 1}, "model.lingam_rerank must be 0"),
        ({"model.encoder": "stats", "model.lingam_order_bias": 100.0}, "model.lingam_order_bias needs"),
        ({"model.encoder": "stats", "model.lingam_rows": 64, "model.lingam_order_bias": -1.0},
         "model.lingam_order_bias must be >= 0"),
        ({"model.encoder": "stats", "model.lingam_rows": 64, "model.lingam_order_min_d": 1},
         "model.lingam_order_min_d must be >= 2"),
        ({"model.dim": 30, "model.heads": 4}, "model.dim"),
        ({"train.precede_loss": -0.1}, "train.precede_loss must be >= 0"),
        ({"model.decoder": "sort", "train.precede_loss": 0.5}, "train.precede_loss needs model.decoder = causal"),
        ({"model.encoder": "cells", "model.edge_head": True}, "model.edge_head needs model.encoder = stats"),
        ({"model.encoder": "cells", "model.tail_cues": True}, "model.tail_cues needs model.encoder = stats"),
        ({"model.encoder": "cells", "model.conditional_head": True}, "model.conditional_head needs model.encoder = stats"),
        ({"model.encoder": "stats", "train.edge_loss": 1.0}, "train.edge_loss needs model.edge_head = true"),
        ({"model.encoder": "stats", "model.edge_head": True, "train.edge_loss": -1.0}, "train.edge_loss must be >= 0"),
        ({"data.d_min": 9, "data.d_max": 4}, "d_min"),
    ],
)
def test_bad_overrides_name_the_key(overrides, fragment):
    with pytest.raises(InputError, match=fragment.replace(".", r"\.")):
        load_config("tiny", overrides)


def test_unknown_key_in_file_and_unknown_name(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[model]\ndim = 32\nwidth = 3\n")
    with pytest.raises(InputError, match=r"model\.width"):
        load_config(str(path))
    path.write_text("[optim]\nlr = 1.0\n")
    with pytest.raises(InputError, match="optim"):
        load_config(str(path))
    path.write_text("[model\n")
    with pytest.raises(InputError, match="TOML"):
        load_config(str(path))
    with pytest.raises(InputError, match="huge"):
        load_config("huge")


def test_partial_file_takes_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[model]\ndim = 32\n")
    cfg = load_config(str(path))
    assert cfg.model.dim == 32
    assert cfg.train == RunConfig().train

"""scripts/ensemble_probe.py: one member's ensemble order is that model's own greedy order (as
`amort eval` decodes it), and an ensemble of a model with itself changes nothing."""
import numpy as np

from causal_amort.inference.stream import chunk_array, spread_quantiles, stream_orders
from causal_amort.model.checkpoint import load_model


def test_ensemble_of_one_is_the_models_own_order(script_module):
    probe = script_module("ensemble_probe")
    model, cfg = load_model("default", "cpu")
    g = np.random.default_rng(0)
    for d in (2, 7, 12):
        x = g.standard_normal((600, d)).astype(np.float32)
        x[:, 1:] += np.tanh(x[:, :-1]) * 2  # a chain, so the order is not a tie
        *_, last = stream_orders(model, chunk_array(x, cfg.data.chunk_size), device="cpu",
                                 standardize_on=spread_quantiles(x, cfg.data.chunk_size))
        own = probe.ensemble_order([model], x, cfg.data.chunk_size)
        assert sorted(own) == list(range(d))
        np.testing.assert_array_equal(own, last.order)
        np.testing.assert_array_equal(probe.ensemble_order([model, model], x, cfg.data.chunk_size), own)


def test_sign_patterns_and_flipped_members(script_module):
    probe = script_module("ensemble_probe")
    patterns = probe.sign_patterns(5, 4, np.random.default_rng(0))
    assert len(patterns) == 4 and all(p.shape == (5,) and set(np.abs(p)) == {1.0} for p in patterns)
    assert (patterns[0] == 1).all() and (patterns[1] == -1).all()
    assert len(probe.sign_patterns(5, 1, np.random.default_rng(0))) == 1
    model, cfg = load_model("default", "cpu")
    x = np.random.default_rng(1).standard_normal((500, 6)).astype(np.float32)
    x[:, 1:] += np.tanh(x[:, :-1]) * 2
    patterns = probe.sign_patterns(6, 2, np.random.default_rng(0))
    own = probe.ensemble_order([model], x, cfg.data.chunk_size)
    np.testing.assert_array_equal(probe.ensemble_order([model], x, cfg.data.chunk_size, patterns[:1]), own)
    # The model on negated data is the model on the data -x, read as any other input.
    negated = probe.ensemble_order([model], -x, cfg.data.chunk_size)
    np.testing.assert_array_equal(probe.ensemble_order([model], x, cfg.data.chunk_size, patterns[1:2]), negated)
    both = probe.ensemble_order([model], x, cfg.data.chunk_size, patterns[:2])
    assert sorted(both) == list(range(6))

"""Dequantization (`model.dequantize_levels`): discrete columns spread over their levels' bins before the
model reads them; continuous data read exactly as before."""
import numpy as np
import pytest
import torch

import causal_amort
from causal_amort.config import load_config
from causal_amort.inference.dequantize import Dequantizer
from causal_amort.model.checkpoint import save_checkpoint
from causal_amort.model.order_model import OrderModel


def _model(tmp_path_factory, levels):
    cfg = load_config("tiny", {"data.chunk_size": 25, "model.encoder": "stats", "model.state": "none",
                               "model.pair_dim": 8, "model.dequantize_levels": levels})
    torch.manual_seed(0)  # the same weights for every setting
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt"), "best", OrderModel(cfg.model), cfg, step=0)
    return causal_amort.load_model(path, device="cpu")


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return _model(tmp_path_factory, 0)


@pytest.fixture(scope="module")
def spreading(tmp_path_factory):
    return _model(tmp_path_factory, 5)


def _mixed(n=300, seed=0):
    """A continuous cause, a 3-level child of it, a binary grandchild and a continuous effect of both."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    levels = np.digitize(a + 0.5 * rng.normal(size=n), [-0.5, 0.5]).astype(np.float64) * 2.0  # 0, 2, 4
    flag = (levels + rng.normal(size=n) > 2).astype(np.float64)
    c = a + flag + 0.3 * rng.normal(size=n)
    return np.column_stack([a, levels, flag, c])


def test_bins_run_between_midpoints_and_every_value_is_drawn_inside_its_levels_bin():
    x = _mixed()
    bins = Dequantizer.of(x, max_levels=5)
    assert bins.columns == (1, 2)  # the continuous columns are left alone
    np.testing.assert_allclose(bins.lower[0], [-1, 1, 3]) and np.testing.assert_allclose(bins.upper[0], [1, 3, 5])
    np.testing.assert_allclose(bins.lower[1], [-0.5, 0.5]) and np.testing.assert_allclose(bins.upper[1], [0.5, 1.5])
    out = bins.apply(x, np.random.default_rng(3))
    np.testing.assert_array_equal(out[:, [0, 3]], x[:, [0, 3]])
    assert (np.abs(out[:, 1] - x[:, 1]) <= 1).all() and (np.abs(out[:, 2] - x[:, 2]) <= 0.5).all()
    assert len(np.unique(out[:, 1])) == len(x)  # no ties left
    # a split of the rows draws the same values as one call
    draws = np.random.default_rng(3)
    np.testing.assert_array_equal(np.concatenate([bins.apply(part, draws) for part in np.array_split(x, 7)]), out)
    assert Dequantizer.of(x, max_levels=2).columns == (2,) and Dequantizer.of(x[:, [0, 3]]) is None
    assert Dequantizer.of(np.c_[np.ones(20), np.arange(20.0) % 2]).columns == (1,)  # a constant column is not spread


def test_continuous_data_are_read_exactly_as_without_the_setting(plain, spreading):
    x = np.random.default_rng(1).normal(size=(300, 4)) @ np.triu(np.ones((4, 4)))
    for got, want in [(spreading.order(x), plain.order(x)), (spreading.order_many([x])[0], plain.order_many([x])[0])]:
        assert got.order == want.order
        np.testing.assert_array_equal(got.confidence, want.confidence)


def test_discrete_columns_are_spread_alike_by_every_reader_and_every_time(plain, spreading):
    x = _mixed()
    first = spreading.order(x)
    assert spreading.order(x).order == first.order  # the draws are seeded: the same data, the same answer
    np.testing.assert_array_equal(spreading.order(x).confidence, first.confidence)
    batch = spreading.order_many([x, x[:250]])  # a batch spreads each dataset as `order` does alone
    assert batch[0].order == first.order and batch[1].order == spreading.order(x[:250]).order
    np.testing.assert_allclose(batch[0].confidence, first.confidence, rtol=1e-4)
    assert not np.allclose(first.confidence, plain.order(x).confidence)  # the setting changes what is read


def test_the_scoring_script_rounds_the_chosen_columns_to_the_grid_and_leaves_the_rest(script_module):
    discretize = script_module("discretized_score").discretize
    x = np.random.default_rng(0).normal(size=(500, 6)) * [1, 5, 0.1, 2, 3, 1] + 7
    for levels in (2, 3, 5):
        every = discretize(x, levels, 1.0, np.random.default_rng(1))
        assert all(len(np.unique(column)) <= levels for column in every.T)
    some = discretize(x, 3, 0.3, np.random.default_rng(2))
    rounded = [j for j in range(6) if len(np.unique(some[:, j])) <= 3]
    assert rounded and all((some[:, j] == x[:, j]).all() for j in range(6) if j not in rounded)
    np.testing.assert_array_equal(discretize(x, 3, 0.3, np.random.default_rng(2)), some)  # seeded
    assert len([j for j in range(6) if len(np.unique(discretize(x, 5, 0.0, np.random.default_rng(3))[:, j])) <= 5]) == 1


def test_interventional_data_with_a_discrete_column_are_read_alike_alone_and_in_a_batch(spreading):
    x = _mixed(n=300, seed=2)
    mask = np.zeros(x.shape, dtype=bool)
    mask[:60, 2] = True  # the binary column set by an intervention in the first rows
    x[:60, 2] = 1.0
    alone = spreading.order(x, mask=mask)
    batch = spreading.order_many([x], masks=[mask])[0]
    assert batch.order == alone.order
    np.testing.assert_allclose(batch.confidence, alone.confidence, rtol=1e-4)

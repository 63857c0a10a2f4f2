"""Streaming inference: one answer per chunk, valid orders, same as the manual loop; chunking."""
import numpy as np
import pytest
import torch

from causal_amort.config import ModelConfig
from causal_amort.model.order_model import OrderModel
from causal_amort.inference.stream import (QUANTILE_ROWS, StreamStep, chunk_array, spread_quantiles, spread_rows,
                                           stream_orders)
from simulators.core.errors import InputError


def make_model():
    torch.manual_seed(0)
    return OrderModel(ModelConfig(dim=32, heads=4, enc_layers=1, dec_layers=1))


def test_chunk_array_covers_rows_with_a_short_tail():
    x = np.arange(250 * 3, dtype=np.float32).reshape(250, 3)
    chunks = list(chunk_array(x, 100))
    assert [c.shape[0] for c in chunks] == [100, 100, 50]
    assert np.array_equal(np.concatenate(chunks), x)
    assert all(np.shares_memory(c, x) for c in chunks)
    with pytest.raises(InputError):
        list(chunk_array(x, 0))


def test_stream_yields_after_every_chunk_and_matches_the_manual_loop():
    model = make_model()
    x = np.random.default_rng(0).standard_normal((61, 4))
    steps = list(stream_orders(model, chunk_array(x, 20), device="cpu", beam=2))
    assert [s.n_seen for s in steps] == [20, 40, 60, 61]
    for step in steps:
        assert isinstance(step, StreamStep)
        assert sorted(step.order.tolist()) == [0, 1, 2, 3]
        assert np.isfinite(step.confidence).all() and step.confidence.shape == (4,)
    with torch.no_grad():
        memory = model.init_memory(1, 4, "cpu")
        for chunk in chunk_array(x, 20):
            memory = model.advance(memory, torch.tensor(chunk, dtype=torch.float32)[None])
        orders, confidence = model.decode(memory, beam=2)
    assert np.array_equal(steps[-1].order, orders[0].numpy())
    np.testing.assert_allclose(steps[-1].confidence, confidence[0].numpy(), rtol=1e-5)


def test_inference_settings_hold_inside_steps_only():
    """The inference settings are thread-local: the caller's code between steps must not run
    in inference mode or with oneDNN switched off."""
    model = make_model()
    x = np.random.default_rng(3).standard_normal((60, 4))
    before = torch.backends.mkldnn.enabled
    seen = []
    for _ in stream_orders(model, chunk_array(x, 20), device="cpu"):
        seen.append((torch.is_inference_mode_enabled(), torch.backends.mkldnn.enabled))
    assert seen == [(False, before)] * 3
    with pytest.raises(InputError):  # a failing stream restores them too
        list(stream_orders(model, [x[:20], x[:20, :3]], device="cpu"))
    assert not torch.is_inference_mode_enabled() and torch.backends.mkldnn.enabled == before


def test_one_row_chunks_and_constant_columns_stay_finite():
    model = make_model()
    x = np.random.default_rng(1).standard_normal((3, 5))
    x[:, 2] = 7.0
    for step in stream_orders(model, chunk_array(x, 1), device="cpu"):
        assert np.isfinite(step.confidence).all()
        assert sorted(step.order.tolist()) == list(range(5))


def test_masks_ride_along_with_chunks():
    model = make_model()
    x = np.random.default_rng(2).standard_normal((40, 3))
    mask = np.zeros((40, 3), dtype=bool)
    mask[:20, 1] = True
    steps = list(stream_orders(model, chunk_array(x, 20), device="cpu", masks=chunk_array(mask, 20)))
    assert len(steps) == 2
    with pytest.raises(InputError, match="mask"):
        list(stream_orders(model, chunk_array(x, 20), device="cpu", masks=chunk_array(mask[:, :2], 20)))


@pytest.mark.parametrize(
    "chunks, fragment",
    [
        ([np.zeros((5, 3)), np.zeros((5, 4))], "4 variables"),
        ([np.array([[1.0, np.nan]])], "NaN"),
        ([np.zeros(4)], "2-d"),
        ([np.array([["a", "b"]])], "real numbers"),
    ],
)
def test_bad_chunks_are_input_errors(chunks, fragment):
    with pytest.raises(InputError, match=fragment):
        list(stream_orders(make_model(), chunks, device="cpu"))


def test_decode_schedule_keeps_the_last_chunk():
    import numpy as np
    import torch

    from causal_amort.config import load_config
    from causal_amort.model.order_model import OrderModel
    from causal_amort.inference.stream import chunk_array, stream_orders

    torch.manual_seed(0)
    model = OrderModel(load_config("tiny").model)
    x = np.random.default_rng(0).normal(size=(230, 4)).astype(np.float32)
    every = list(stream_orders(model, chunk_array(x, 50), device="cpu"))
    some = list(stream_orders(model, chunk_array(x, 50), device="cpu", decode_at=lambda k: k == 2))
    assert [s.n_seen for s in every] == [50, 100, 150, 200, 230]
    assert [s.n_seen for s in some] == [100, 230]
    for step in some:
        match = next(e for e in every if e.n_seen == step.n_seen)
        assert (match.order == step.order).all()


def test_a_statistics_model_answers_the_same_for_any_chunking():
    """State "none": undecoded chunks are gathered into blocks, and with the standardization fixed by
    the same rows (`standardize_on`) the rows' split does not matter (up to float rounding)."""
    torch.manual_seed(0)
    model = OrderModel(ModelConfig(dim=32, heads=4, enc_layers=1, dec_layers=2, encoder="stats", state="none",
                                   pair_dim=8, score_cues=True))
    base = np.random.default_rng(1).standard_normal((3000, 6))
    x = base + 0.8 * np.roll(base, 1, axis=1) ** 2 * np.arange(6)  # dependent columns, different scales
    mask = np.zeros(x.shape, dtype=bool)
    mask[::7, 2] = True  # interventional rows gathered beside their values

    def final(chunks, masks):
        (step,) = stream_orders(model, chunks, masks=masks, device="cpu", decode_at=lambda k: False,
                                standardize_on=x[spread_rows(len(x), 250)])
        return step

    by_chunk = final(chunk_array(x, 250), chunk_array(mask, 250))
    splits = [250, 40, 1710, 1000]
    edges = np.cumsum([0] + splits)
    mixed = final((x[a:b] for a, b in zip(edges[:-1], edges[1:])), (mask[a:b] for a, b in zip(edges[:-1], edges[1:])))
    whole = final([x], [mask])
    for other in (mixed, whole):
        assert other.n_seen == by_chunk.n_seen == 3000
        assert other.order.tolist() == by_chunk.order.tolist()
        np.testing.assert_allclose(other.confidence, by_chunk.confidence, rtol=1e-3, atol=1e-4)
    # Decoding after every chunk ends where decoding only the last does.
    *_, every = stream_orders(model, chunk_array(x, 250), masks=chunk_array(mask, 250), device="cpu",
                              standardize_on=x[spread_rows(len(x), 250)])
    assert every.order.tolist() == by_chunk.order.tolist()


def test_spread_rows_cover_the_data_evenly():
    assert spread_rows(10, 4).tolist() == [0, 3, 6, 9]
    assert spread_rows(3, 250).tolist() == [0, 1, 2]  # fewer rows than asked: all of them
    rows = spread_rows(2000, 250)
    assert len(np.unique(rows)) == 250 and rows[0] == 0 and rows[-1] == 1999
    assert np.diff(rows).min() >= 7 and np.diff(rows).max() <= 9


def test_spread_quantiles_are_each_columns_order_statistics_whatever_the_row_order():
    x = np.random.default_rng(6).standard_normal((2001, 3)) * [1.0, 10.0, 0.1]
    q = spread_quantiles(x, 251)
    np.testing.assert_array_equal(q, np.sort(x, axis=0)[spread_rows(2001, 251)])
    np.testing.assert_array_equal(spread_quantiles(x[np.random.default_rng(7).permutation(2001)], 251), q)
    np.testing.assert_array_equal(np.median(q, axis=0), np.median(x, axis=0))  # odd counts: the same middle
    assert spread_quantiles(x[:5], 251).shape == (5, 3)
    big = np.random.default_rng(8).standard_normal((QUANTILE_ROWS + 5000, 2))  # past the cap: rows spread first
    np.testing.assert_array_equal(spread_quantiles(big, 9),
                                  np.sort(big[spread_rows(len(big), QUANTILE_ROWS)], axis=0)[spread_rows(QUANTILE_ROWS, 9)])


def test_the_standardization_rows_decide_and_are_checked():
    """A statistics model reads every row under the transform `standardize_on` fixes: rows from
    another part of the data give another answer; rows of the wrong shape or with NaN are refused."""
    torch.manual_seed(0)
    model = OrderModel(ModelConfig(dim=16, heads=2, enc_layers=1, dec_layers=1, encoder="stats", state="none",
                                   pair_dim=8))
    x = np.random.default_rng(3).standard_normal((600, 4)).cumsum(axis=0)  # drifting: its parts differ

    def confidence(anchor):
        (step,) = stream_orders(model, chunk_array(x, 100), device="cpu", decode_at=lambda k: False,
                                standardize_on=anchor)
        return step.confidence

    assert not np.allclose(confidence(x[:100]), confidence(x[spread_rows(600, 100)]))
    np.testing.assert_array_equal(confidence(None), confidence(x[:100]))  # default: the first chunk
    for bad, needle in [(x[:10, :3], "standardize_on has 3 variables, the data have 4"),
                        (np.full((10, 4), np.nan), "standardize_on holds NaN")]:
        with pytest.raises(InputError, match=needle):
            confidence(bad)


def test_streaming_puts_every_module_in_eval_mode_even_one_switched_back_later():
    model = make_model()
    model.train()
    x = np.random.default_rng(1).standard_normal((30, 4))
    list(stream_orders(model, chunk_array(x, 10), device="cpu"))
    assert not any(m.training for m in model.modules())
    model.decoder.layers[0].ff.train()  # a submodule alone, after the modules were listed once
    list(stream_orders(model, chunk_array(x, 10), device="cpu"))
    assert not any(m.training for m in model.modules())

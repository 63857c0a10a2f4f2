"""Symmetries: equivariance to permuting variables, invariance to permuting samples and to
per-variable positive affine maps; the decoder's causal mask."""
import pytest
import torch

from causal_amort.config import ModelConfig
from causal_amort.model.cells_encoder import standardize_chunk
from causal_amort.model.order_model import OrderModel

TOL = dict(rtol=1e-4, atol=1e-4)


def make_model(**overrides):
    torch.manual_seed(0)
    return OrderModel(ModelConfig(dim=32, heads=4, enc_layers=2, dec_layers=2, **overrides)).eval()


def read(model, chunks, masks=None):
    """The state after streaming `chunks` (a list of (B, b, d) tensors)."""
    memory = model.init_memory(chunks[0].shape[0], chunks[0].shape[2], "cpu")
    for t, chunk in enumerate(chunks):
        memory = model.advance(memory, chunk, None if masks is None else masks[t])
    return memory.state


def data(batch=2, rows=30, d=6, chunks=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    # Skewed, correlated columns with different offsets and scales, like real measurements.
    base = torch.randn(chunks, batch, rows, d, generator=gen).exp()
    mixed = base + 0.5 * base.roll(1, dims=-1)
    return list(mixed * torch.logspace(-2, 2, d) + torch.linspace(-50, 50, d))


@pytest.mark.parametrize("state", ["carry", "none", "average"])
def test_permuting_variables_permutes_state_logits_and_order(state):
    model = make_model(state=state)
    chunks = data()
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    inverse = torch.argsort(perm)
    with torch.no_grad():
        s = read(model, chunks)
        s_perm = read(model, [c[..., perm] for c in chunks])
        torch.testing.assert_close(s_perm, s[:, perm], **TOL)
        prefix = torch.tensor([[4, 1, 0], [2, 5, 3]])
        logits = model.decoder.logits(s, prefix)
        logits_perm = model.decoder.logits(s_perm, inverse[prefix])
        torch.testing.assert_close(logits_perm, logits[..., perm], **TOL)
        order, conf = model.decode(s)
        order_perm, conf_perm = model.decode(s_perm)
    assert torch.equal(order_perm, inverse[order])
    torch.testing.assert_close(conf_perm, conf, **TOL)


def test_permuting_samples_within_a_chunk_changes_nothing():
    model = make_model()
    chunks = data()
    gen = torch.Generator().manual_seed(0)
    shuffled = [c[:, torch.randperm(c.shape[1], generator=gen)] for c in chunks]
    with torch.no_grad():
        torch.testing.assert_close(read(model, shuffled), read(model, chunks), **TOL)


def test_positive_affine_maps_per_variable_change_nothing():
    model = make_model()
    chunks = data()
    # Shifts stay within a few hundred spreads, so float32 itself still resolves the data.
    scale = torch.tensor([1e-3, 0.5, 2.0, 7.0, 1e3, 1.0])
    shift = torch.tensor([-0.05, -4.0, 0.0, 30.0, 1e4, 0.1])
    with torch.no_grad():
        torch.testing.assert_close(read(model, [c * scale + shift for c in chunks]), read(model, chunks), **TOL)


def test_flipping_a_sign_is_seen():
    # Invariance is only to positive scale: a sign flip is information, not units.
    model = make_model()
    chunks = data()
    flip = torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0, 1.0])
    with torch.no_grad():
        assert not torch.allclose(read(model, [c * flip for c in chunks]), read(model, chunks), **TOL)


def test_standardize_guards_constant_columns_and_single_rows():
    x = torch.tensor([[[1.0, 5.0, 1e8], [3.0, 5.0, 1e8]]])
    z = standardize_chunk(x)
    assert torch.equal(z[..., 1:], torch.zeros(1, 2, 2))
    torch.testing.assert_close(z[..., 0], torch.tensor([[-1.0, 1.0]]))
    assert torch.equal(standardize_chunk(torch.randn(3, 1, 4)), torch.zeros(3, 1, 4))


@pytest.mark.parametrize("scale", [1e-30, 1e-20, 1e20, 1e30])
def test_standardize_survives_extreme_units(scale):
    x = torch.randn(2, 40, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(standardize_chunk(x * scale), standardize_chunk(x), rtol=1e-4, atol=1e-5)


def test_intervention_mask_is_read_and_permutes_with_variables():
    model = make_model()
    chunks = data(chunks=1)
    mask = torch.zeros(chunks[0].shape, dtype=torch.bool)
    mask[:, :10, 2] = True
    perm = torch.tensor([5, 4, 3, 2, 1, 0])
    with torch.no_grad():
        plain = read(model, chunks)
        masked = read(model, chunks, [mask])
        masked_perm = read(model, [chunks[0][..., perm]], [mask[..., perm]])
    assert not torch.allclose(masked, plain, **TOL)
    torch.testing.assert_close(masked_perm, masked[:, perm], **TOL)


@pytest.mark.parametrize("decoder", ["causal", "sort"])
def test_logits_at_position_k_ignore_later_positions(decoder):
    model = make_model(decoder=decoder)
    state = torch.randn(1, 7, 32)
    a = torch.tensor([[3, 1, 6, 0, 2, 5]])
    b = torch.tensor([[3, 1, 6, 5, 4, 0]])  # same first 3 entries, different after
    with torch.no_grad():
        la, lb = model.decoder.logits(state, a), model.decoder.logits(state, b)
    assert la.shape == (1, 7, 7)
    torch.testing.assert_close(la[:, :4], lb[:, :4], rtol=0, atol=1e-6)
    assert not torch.allclose(la[:, 4:], lb[:, 4:])
    # Placed variables can never be picked.
    assert torch.isneginf(la[0, 4, [3, 1, 6, 0]]).all()
    assert torch.isfinite(la[0, 4, [2, 4, 5]]).all()

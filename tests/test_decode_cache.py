"""The decoders' caches give the logits of the full-prefix pass: position by position along a
teacher order, and as decodes (greedy and beam, with and without the pair channel and constraints)."""
import pytest
import torch

from causal_amort.config import ModelConfig
from causal_amort.model.decoding import beam_search, recompute
from causal_amort.model.order_model import OrderModel

DIM, PAIR_DIM = 32, 8


def make_decoder(decoder: str, encoder: str):
    torch.manual_seed(0)
    cfg = ModelConfig(dim=DIM, heads=4, enc_layers=1, dec_layers=2, decoder=decoder, encoder=encoder,
                      pair_dim=PAIR_DIM)
    return OrderModel(cfg).eval().decoder


def inputs(encoder: str, batch: int = 3, d: int = 9, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    state = 2 * torch.randn(batch, d, DIM, generator=gen)
    pairs = torch.randn(batch, d, d, PAIR_DIM, generator=gen) if encoder == "stats" else None
    return state, pairs


CASES = [("causal", "cells"), ("causal", "stats"), ("sort", "cells")]


@pytest.mark.parametrize("decoder, encoder", CASES)
def test_cached_steps_match_the_full_pass_along_a_teacher_order(decoder, encoder):
    dec = make_decoder(decoder, encoder)
    state, pairs = inputs(encoder)
    order = torch.stack([torch.randperm(state.shape[1], generator=torch.Generator().manual_seed(b))
                         for b in range(state.shape[0])])
    with torch.no_grad():
        full = dec.logits(state, order[:, :-1], pairs)
        steps = dec.begin(state, pairs)
        for k in range(state.shape[1]):
            torch.testing.assert_close(steps.next_logits(), full[:, k], rtol=1e-5, atol=1e-5)
            steps.advance(None, order[:, k])


@pytest.mark.parametrize("decoder, encoder", CASES)
@pytest.mark.parametrize("beam", [1, 3])
@pytest.mark.parametrize("constrained", [False, True])
def test_cached_decode_matches_the_recomputed_one(decoder, encoder, beam, constrained):
    dec = make_decoder(decoder, encoder)
    state, pairs = inputs(encoder, seed=beam)
    d = state.shape[1]
    precede = None
    if constrained:  # a chain 4 < 0 < 7 and 2 < 5
        precede = torch.zeros(d, d, dtype=torch.bool)
        precede[4, 0] = precede[0, 7] = precede[2, 5] = True
    with torch.no_grad():
        cached = beam_search(dec.begin, state, beam, pairs, precede)
        reference = beam_search(recompute(dec.logits), state, beam, pairs, precede)
    assert torch.equal(cached[0], reference[0])
    torch.testing.assert_close(cached[1], reference[1], rtol=1e-5, atol=1e-6)


def test_cached_beam_decode_under_bf16_autocast():
    dec = make_decoder("causal", "stats")
    state, pairs = inputs("stats")
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        orders, confidence = beam_search(dec.begin, state, 2, pairs)
    assert torch.equal(orders.sort(dim=1).values, torch.arange(state.shape[1]).expand_as(orders))
    assert confidence.dtype == torch.float32 and torch.isfinite(confidence).all()


def test_greedy_picks_the_argmax_at_every_position_at_large_d():
    # A float32 running score once rounded away the gap between close candidates near d = 400.
    torch.manual_seed(0)
    model = OrderModel(ModelConfig(dim=DIM, heads=4, enc_layers=1, dec_layers=2)).eval()
    state = torch.randn(1, 400, DIM, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        orders, _ = model.decode(state)
        logits = model.decoder.logits(state, orders[:, :-1])
    assert torch.equal(logits.argmax(dim=-1), orders)


def test_kept_step_weights_follow_changed_weights():
    """The layers keep their weight-only products between decodes; a weight changed in place (an
    optimizer step, `load_state_dict`), a conversion or autocast must not decode with stale ones."""
    dec = make_decoder("causal", "stats")
    state, pairs = inputs("stats")
    teacher = torch.arange(state.shape[1]).expand(state.shape[0], -1)

    def check(state, pairs):
        full = dec.logits(state, teacher[:, :-1], pairs)
        steps = dec.begin(state, pairs)
        for k in range(state.shape[1]):
            torch.testing.assert_close(steps.next_logits(), full[:, k], rtol=1e-5, atol=1e-5)
            steps.advance(None, teacher[:, k])

    with torch.inference_mode():
        check(state, pairs)
        kept = dec.layers[0].step_weights()
        assert dec.layers[0].step_weights() is kept  # nothing changed: the same products
        for layer in dec.layers:
            layer.ff.linears[0].weight.mul_(-2.0)
            layer.cross_attn.q.bias.add_(1.0)
        assert dec.layers[0].step_weights() is not kept
        check(state, pairs)
    with torch.no_grad():
        check(state, pairs)  # other mode: computed again, not the inference-mode tensors
        kept = dec.layers[0].step_weights()
        dec.double()
        assert dec.layers[0].step_weights().qkv[1].dtype == torch.float64
        dec.float()  # new storage, versions from zero again
        assert dec.layers[0].step_weights() is not kept
        check(state, pairs)
        plain = dec.layers[0].step_weights().qkv[1]
        with torch.autocast("cpu", dtype=torch.bfloat16):  # the value-output product rounds to bf16
            assert not torch.equal(dec.layers[0].step_weights().qkv[1], plain)
        assert torch.equal(dec.layers[0].step_weights().qkv[1], plain)

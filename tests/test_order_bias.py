"""`model.lingam_order_bias`: where the sample LiNGAM search's order survives its gate and tests on data with
no row intervened on, a large bias hands that order to the decoder (greedy or beam, the constraints still
honoured); where the search is skipped, or some rows were intervened on, the decoder is the network's alone."""
from dataclasses import replace

import torch

from causal_amort.config import ModelConfig
from causal_amort.model.order_model import OrderModel
from causal_amort.model.sample_lingam import sample_lingam_cues


def make_model(**overrides):
    torch.manual_seed(0)
    cfg = ModelConfig(dim=32, heads=4, enc_layers=2, dec_layers=2, encoder="stats", pair_dim=8, state="none",
                      lingam_rows=512, **overrides)
    return OrderModel(cfg).eval()


def linear_chains(batch=2, rows=1000, d=5, seed=0):
    """Linear SEMs with exponential noise, their columns in a shuffled order per task."""
    gen = torch.Generator().manual_seed(seed)
    noise = -torch.rand(batch, rows, d, generator=gen).log()
    x = noise.clone()
    for j in range(1, d):
        x[..., j] = x[..., j] + 0.8 * x[..., j - 1]
    return torch.stack([task[:, torch.randperm(d, generator=gen)] for task in x])


def memory_of(model, x, chunk=250, mask=None):
    memory = model.init_memory(x.shape[0], x.shape[2], "cpu")
    with torch.no_grad():
        for start in range(0, x.shape[1], chunk):
            rows = slice(start, start + chunk)
            memory = model.advance(memory, x[:, rows], None if mask is None else mask[:, rows])
    return memory


def test_a_large_bias_hands_the_search_order_over():
    x = linear_chains()
    plain, biased = make_model(), make_model(lingam_order_bias=100.0)
    assert memory_of(plain, x).order_bias is None
    memory = memory_of(biased, x)
    search = sample_lingam_cues(memory.stats)[0][..., 0].argsort(dim=1)
    with torch.no_grad():
        for beam in (1, 3):
            order, confidence = biased.decode(memory, beam=beam)
            assert torch.equal(order, search), beam
            assert (confidence > 0.99).all()
        # The user's constraints still win: the search's last variable forced first, the rest in its order.
        last = search[0, -1]
        precede = torch.zeros(x.shape[2], x.shape[2], dtype=torch.bool)
        precede[last, search[0, :-1]] = True
        order, _ = biased.decode(replace(memory, order_bias=memory.order_bias[:1], state=memory.state[:1],
                                         pairs=memory.pairs[:1]), precede=precede)
        assert torch.equal(order[0], torch.cat([last[None], search[0, :-1]]))


def test_where_the_search_is_skipped_the_network_decides_alone():
    x = linear_chains(seed=1)
    plain, biased = make_model(lingam_max_d=3), make_model(lingam_max_d=3, lingam_order_bias=100.0)
    memory = memory_of(biased, x)
    assert memory.order_bias is None  # d = 5 is above the cap: no search, no bias
    with torch.no_grad():
        assert torch.equal(biased.decode(memory)[0], plain.decode(memory_of(plain, x))[0])


def test_data_with_intervened_rows_get_no_bias():
    """The row sample keeps only rows where nothing was intervened on, so a task with intervened rows keeps
    the network's order; a task without any in the same batch still gets the search's."""
    x = linear_chains(seed=2)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[0, :100, 1] = True  # the first task: variable 1 intervened on in 100 of its 1000 rows
    plain, biased = make_model(intervention_head=True), make_model(intervention_head=True, lingam_order_bias=100.0)
    memory = memory_of(biased, x, mask=mask)
    assert (memory.order_bias[0] == 0).all() and (memory.order_bias[1] != 0).any()
    with torch.no_grad():
        order = biased.decode(memory)[0]
        assert torch.equal(order[0], plain.decode(memory_of(plain, x, mask=mask))[0][0])
        assert torch.equal(order[1], sample_lingam_cues(memory.stats)[0][1, :, 0].argsort())


def test_below_the_smallest_d_the_network_decides_alone():
    """``model.lingam_order_min_d``: no bias on data with fewer variables, the bias from that d up."""
    for d, applies in ((4, False), (5, True)):
        x = linear_chains(d=d, seed=3)
        plain, biased = make_model(), make_model(lingam_order_bias=100.0, lingam_order_min_d=5)
        memory = memory_of(biased, x)
        assert (memory.order_bias is not None) == applies, d
        assert memory_of(make_model(lingam_order_bias=100.0), x).order_bias is not None  # every d by default
        with torch.no_grad():
            order = biased.decode(memory)[0]
            if applies:
                assert torch.equal(order, sample_lingam_cues(memory.stats)[0][..., 0].argsort(dim=1))
            else:
                assert torch.equal(order, plain.decode(memory_of(plain, x))[0])

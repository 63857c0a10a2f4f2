"""Teacher orders, placed sets, next-sets and ancestors on hand-made graphs; the next-set and
must-precede losses."""
import networkx as nx
import numpy as np
import pytest
import torch

from causal_amort.config import ModelConfig
from causal_amort.model.order_model import OrderModel
from causal_amort.model.targets import ancestors, next_sets, placed_before, random_topological_order


def graph(d, edges):
    g = torch.zeros(1, d, d)
    for i, j in edges:
        g[0, i, j] = 1
    return g


def rows(mask):
    """Next-sets as a list of sets, one per position."""
    return [set(torch.nonzero(row).flatten().tolist()) for row in mask[0]]


@pytest.mark.parametrize(
    "edges, order, expected",
    [
        ([(0, 1), (1, 2)], [0, 1, 2], [{0}, {1}, {2}]),  # chain
        ([(0, 1), (0, 2)], [0, 2, 1], [{0}, {1, 2}, {1}]),  # fork
        ([(0, 2), (1, 2)], [1, 0, 2], [{0, 1}, {0}, {2}]),  # collider
        ([], [2, 0, 1], [{0, 1, 2}, {0, 1}, {1}]),  # empty graph
        ([(3, 0), (0, 1), (3, 2)], [3, 2, 0, 1], [{3}, {0, 2}, {0}, {1}]),
    ],
)
def test_next_sets_hand_made(edges, order, expected):
    d = len(order)
    assert rows(next_sets(graph(d, edges), torch.tensor([order]))) == expected


def test_placed_before():
    placed = placed_before(torch.tensor([[2, 0]]), 3)
    assert placed.shape == (1, 3, 3)
    assert placed[0].tolist() == [[False, False, False], [False, False, True], [True, False, True]]


def test_random_orders_are_valid_and_vary():
    g = graph(4, [(0, 3), (1, 3), (2, 3), (0, 1)])
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(50):
        order = random_topological_order(g, gen)[0].tolist()
        pos = {v: k for k, v in enumerate(order)}
        assert sorted(order) == [0, 1, 2, 3]
        assert all(pos[i] < pos[j] for i, j in [(0, 3), (1, 3), (2, 3), (0, 1)])
        seen.add(tuple(order))
    # Valid orders: 2 can go anywhere before 3, with 0 before 1: (0,1,2,3) (0,2,1,3) (2,0,1,3).
    assert seen == {(0, 1, 2, 3), (0, 2, 1, 3), (2, 0, 1, 3)}


def test_random_order_same_seed_same_order():
    g = (torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(1)) < 0.4).float().triu(1)
    a = random_topological_order(g, torch.Generator().manual_seed(7))
    b = random_topological_order(g, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_cycle_is_rejected():
    with pytest.raises(ValueError, match="cycle"):
        random_topological_order(graph(3, [(0, 1), (1, 2), (2, 0)]), torch.Generator())


@pytest.mark.parametrize("decoder", ["causal", "sort"])
def test_loss_is_zero_without_edges_and_positive_with(decoder):
    torch.manual_seed(0)
    model = OrderModel(ModelConfig(dim=32, heads=4, enc_layers=1, dec_layers=1, decoder=decoder))
    state = torch.randn(2, 5, 32)
    gen = torch.Generator().manual_seed(0)
    # With no edges every unplaced variable may come next: all the mass is on the target.
    assert model.order_loss(state, torch.zeros(2, 5, 5), gen).item() == pytest.approx(0.0, abs=1e-6)
    chain = torch.diag(torch.ones(4), 1).expand(2, 5, 5)
    assert model.order_loss(state, chain, gen).item() > 0.1


def test_ancestors_hand_made_and_against_networkx():
    # 0 -> 1 -> 2 -> 3, 4 -> 2, 5 alone: 0 reaches 1, 2, 3 and 4 reaches 2, 3.
    reach = ancestors(graph(6, [(0, 1), (1, 2), (2, 3), (4, 2)]))[0]
    assert {(i, j) for i, j in torch.nonzero(reach).tolist()} == {
        (0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3), (4, 2), (4, 3)}
    rng = np.random.default_rng(0)
    for d in (2, 3, 9, 17):
        adjacency = np.triu(rng.random((d, d)) < 0.3, 1)
        closure = nx.transitive_closure_dag(nx.DiGraph(adjacency))
        expected = np.zeros((d, d), dtype=bool)
        for i, j in closure.edges:
            expected[i, j] = True
        assert np.array_equal(ancestors(torch.from_numpy(adjacency.astype(np.float32))[None])[0].numpy(), expected)


def test_precede_loss_is_added_with_its_weight_and_trains_the_beliefs():
    torch.manual_seed(0)
    model = OrderModel(ModelConfig(dim=32, heads=4, enc_layers=1, dec_layers=1))
    state = torch.randn(2, 5, 32)
    chain = torch.diag(torch.ones(4), 1).expand(2, 5, 5)
    order_only = model.order_loss(state, chain, torch.Generator().manual_seed(0))
    precede = model.decoder.precede_loss(state, None, chain)
    both = model.order_loss(state, chain, torch.Generator().manual_seed(0), precede_weight=0.5)
    assert both.item() == pytest.approx(order_only.item() + 0.5 * precede.item(), rel=1e-6)
    # Beliefs that match the ancestors exactly ("i before j" for i < j on the chain) score lower.
    d = 5
    truth = torch.triu(torch.ones(d, d), 1).t()  # [j, i]: i before j
    decoder = model.decoder
    with torch.no_grad():
        decoder.precede_query.weight.zero_(); decoder.precede_key.weight.zero_()
        decoder.precede_query.bias.zero_(); decoder.precede_key.bias.zero_(); decoder.precede_bias.zero_()
    uninformed = decoder.precede_loss(state, None, chain).item()
    assert uninformed == pytest.approx(np.log(2), rel=1e-5)  # every belief 1/2
    decoder.precede_logits = lambda variables, pairs: 20 * (2 * truth - 1).expand(2, d, d)
    assert decoder.precede_loss(state, None, chain).item() < 1e-6

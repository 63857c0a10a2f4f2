"""The leaf-removal measurements: scripts/rff_leaf_order.py (its streamed Fourier sums are exact over
chunks) and scripts/basis_leaf_order.py (the model's leaf cues alone); both order a nonlinear chain.
The additive likelihood of scripts/likelihood_order_probe.py scores that chain's true order best."""
import numpy as np
import torch



def chain(seed: int, n: int = 2000) -> np.ndarray:
    """x0 -> x1 -> x2 -> x3, nonlinear, Gaussian noise; columns stored as [x2, x0, x3, x1]."""
    g = np.random.default_rng(seed)
    x0 = g.normal(size=n)
    x1 = 1.5 * np.tanh(2 * x0) + 0.3 * g.normal(size=n)
    x2 = 2 * np.sin(x1) + 0.3 * g.normal(size=n)
    x3 = x2**2 / 2 + 0.3 * g.normal(size=n)
    return np.stack([x2, x0, x3, x1], axis=1)


def test_fourier_sums_over_chunks_equal_one_pass(script_module):
    rff = script_module("rff_leaf_order")
    x = chain(0, n=700)
    freq, phase = rff.draw_features(4, 64, 4, torch.Generator().manual_seed(0))
    assert freq.shape == (4, 64 + 16) and ((freq != 0).sum(dim=0) <= 2).all()
    center, scale = torch.tensor(x.mean(axis=0)), torch.tensor(x.std(axis=0))
    chunked, one = rff.FourierSums(freq, phase, center, scale), rff.FourierSums(freq, phase, center, scale)
    for start in range(0, 700, 250):
        chunked.add(x[start : start + 250])
    one.add(x)
    assert chunked.count == one.count == 700
    for name in ("cos_gram", "sin_gram", "sin_sum"):
        torch.testing.assert_close(getattr(chunked, name), getattr(one, name))


def test_fourier_leaf_removal_orders_a_nonlinear_chain(script_module):
    rff = script_module("rff_leaf_order")
    for seed in range(3):
        assert rff.stream_order(chain(seed), pairs=256, singles=8, seed=seed) == [1, 3, 0, 2]


def test_basis_leaf_removal_orders_a_nonlinear_chain(script_module):
    leaf = script_module("basis_leaf_order")
    for seed in range(3):
        iterative, static = leaf.leaf_removal_orders(leaf.streamed(chain(seed), chunk=250))
        assert iterative == [1, 3, 0, 2]
        assert sorted(static) == [0, 1, 2, 3]


def test_additive_likelihood_prefers_the_true_order_of_a_nonlinear_chain(script_module):
    probe = script_module("likelihood_order_probe")
    leaf = script_module("basis_leaf_order")
    for seed in range(3):
        stats = leaf.streamed(chain(seed), chunk=250)
        true = probe.additive_score(stats, np.array([1, 3, 0, 2]))
        assert true < probe.additive_score(stats, np.array([2, 0, 3, 1])) - 0.1  # the reverse
        assert true < probe.additive_score(stats, np.array([3, 1, 2, 0]))  # causes after effects

"""Classical baselines: valid permutations on any input, and right where each is known to work.

The SCMs are built here with numpy (small, seeded) so that these tests do not depend on the
simulator package. Columns are shuffled so that no method profits from index order.
"""
import numpy as np
import pytest

from causal_amort.baselines import BASELINES
from causal_amort.evaluation.metrics import frac_reversed, order_divergence
from simulators.core.errors import InputError

MECHANISMS = (np.sin, np.tanh, lambda v: 0.5 * v**2, lambda v: np.cos(1.5 * v))


def random_dag(d: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Adjacency (d, d) uint8 with variables 0..d-1 in topological order."""
    return np.triu(rng.random((d, d)) < p, 1).astype(np.uint8)


def shuffled(x: np.ndarray, g: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    perm = rng.permutation(x.shape[1])
    return x[:, perm], g[np.ix_(perm, perm)]


def linear_scm(d: int, n: int, rng: np.random.Generator, *, p: float = 0.5, noise: str = "uniform",
               weights: tuple[float, float] = (0.5, 1.5)) -> tuple[np.ndarray, np.ndarray]:
    """Linear SCM with random signs, shuffled columns; returns (x, graph)."""
    g = random_dag(d, p, rng)
    w = g * rng.uniform(*weights, (d, d)) * rng.choice([-1.0, 1.0], (d, d))
    x = np.zeros((n, d))
    for j in range(d):
        e = rng.uniform(-1, 1, n) if noise == "uniform" else rng.normal(size=n)
        x[:, j] = x @ w[:, j] + e
    return shuffled(x, g, rng)


def anm_scm(d: int, n: int, rng: np.random.Generator, *, p: float = 0.6, noise: str = "gauss",
            scale: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Nonlinear additive-noise SCM (sin/tanh/quadratic/cos mechanisms), shuffled columns."""
    g = random_dag(d, p, rng)
    x = np.zeros((n, d))
    for j in range(d):
        e = scale * (rng.normal(size=n) if noise == "gauss" else rng.uniform(-1.7, 1.7, n))
        x[:, j] = e + sum(MECHANISMS[(i + j) % 4](x[:, i]) * rng.uniform(1, 2) for i in np.flatnonzero(g[:, j]))
    return shuffled(x, g, rng)


def standardize(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / x.std(axis=0)


def is_permutation(order: np.ndarray, d: int) -> bool:
    return order.shape == (d,) and np.issubdtype(order.dtype, np.integer) and sorted(order.tolist()) == list(range(d))


def test_registry_names_and_flags():
    assert set(BASELINES) == {"random", "varsort", "r2sort", "lingam", "score", "nogam", "intsort"}
    assert {n for n, b in BASELINES.items() if b.reads_masks} == {"intsort"}
    assert {n for n, b in BASELINES.items() if b.slow} == {"lingam", "score", "nogam"}
    assert {n for n, b in BASELINES.items() if b.uses_device} == {"score", "nogam"}
    assert all(b.name == n for n, b in BASELINES.items())


def degenerate_inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    return {
        "constant column": np.column_stack([x, np.full(60, 3.0)]),
        "duplicated column": np.column_stack([x, x[:, 1]]),
        "affine copy": np.column_stack([x[:, :2], -2 * x[:, 0] + 1, x[:, 2:]]),
        "all constant": np.ones((60, 3)),
        "d=2": x[:, :2],
        "one row": x[:1],
        "three rows": x[:3],
        "float32 with ties": np.round(x, 0).astype(np.float32),
        "huge scale gap": x * np.array([1e-6, 1.0, 1e6, 1.0]),
    }


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize("case", sorted(degenerate_inputs()))
def test_every_baseline_returns_a_permutation_on_degenerate_input(name, case):
    x = degenerate_inputs()[case]
    mask = np.zeros(x.shape, dtype=bool)
    mask[::2, 0] = True  # for intsort: column 0 intervened in every other row
    order = BASELINES[name].fit_order(x, np.random.default_rng(1), mask=mask)
    assert is_permutation(order, x.shape[1])


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_bad_input_is_an_input_error(name):
    x = np.random.default_rng(0).normal(size=(20, 3))
    x[4, 1] = np.nan
    mask = np.zeros(x.shape, dtype=bool)
    with pytest.raises(InputError):
        BASELINES[name].fit_order(x, np.random.default_rng(0), mask=mask)
    with pytest.raises(InputError):
        BASELINES[name].fit_order(np.zeros(5), np.random.default_rng(0), mask=np.zeros(5, dtype=bool))


def test_degenerate_columns_are_placed_around_the_informative_ones():
    rng = np.random.default_rng(3)
    chain = np.cumsum(rng.normal(size=(300, 3)) * [1, 2, 4], axis=1)  # variances increase along the chain
    x = np.column_stack([chain, np.zeros(300), 5 * chain[:, 0]])       # col 3 constant, col 4 copies col 0
    order = BASELINES["varsort"].fit_order(x, rng).tolist()
    assert order[-1] == 3
    assert order.index(4) == order.index(0) + 1
    assert [v for v in order if v < 3] == [0, 1, 2]


def test_random_is_reproducible_and_uniform():
    x = np.zeros((5, 3))
    base = BASELINES["random"]
    assert np.array_equal(base.fit_order(x, np.random.default_rng(7)), base.fit_order(x, np.random.default_rng(7)))
    rng = np.random.default_rng(0)
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(600):
        key = tuple(base.fit_order(x, rng).tolist())
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 6 and min(counts.values()) > 60


def test_sorting_baselines_are_equivariant_to_column_permutations():
    rng = np.random.default_rng(5)
    x, _ = linear_scm(6, 500, rng)
    for name in ("varsort", "r2sort"):
        ref = BASELINES[name].fit_order(x, np.random.default_rng(0))
        perm = rng.permutation(6)
        got = perm[BASELINES[name].fit_order(x[:, perm], np.random.default_rng(1))]
        assert np.array_equal(got, ref)


def test_exact_ties_are_broken_by_the_generator_not_by_column_index():
    # Columns with exactly equal variance (each holds as many +1 as -1): if ties kept index
    # order, var-sort would return the identity, a perfect order whenever the columns happen
    # to be stored causes first.
    rng = np.random.default_rng(2)
    x = np.column_stack([rng.permutation(np.repeat([-1.0, 1.0], 50)) for _ in range(5)])
    orders = {tuple(BASELINES["varsort"].fit_order(x, np.random.default_rng(s)).tolist()) for s in range(8)}
    assert len(orders) > 4


def test_varsort_is_perfect_on_a_raw_scale_chain_with_large_weights():
    rng = np.random.default_rng(4)
    d, n = 6, 1000
    x = np.zeros((n, d))
    x[:, 0] = rng.normal(size=n)
    for j in range(1, d):
        x[:, j] = rng.uniform(1.2, 2.0) * rng.choice([-1, 1]) * x[:, j - 1] + rng.normal(size=n)
    g = np.eye(d, k=1, dtype=np.uint8)
    x, g = shuffled(x, g, rng)
    assert order_divergence(BASELINES["varsort"].fit_order(x, rng), g) == 0


def test_r2sort_beats_chance_where_r2_sortability_is_high():
    # Linear SCMs with weights > 1: each variable's R² given the rest grows down the graph.
    fracs = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        x, g = linear_scm(6, 1000, rng, p=0.8, weights=(1.5, 3.0), noise="gauss")
        fracs.append(frac_reversed(BASELINES["r2sort"].fit_order(standardize(x), rng), g))
    assert np.nanmean(fracs) < 0.3  # chance is 0.5


def test_direct_lingam_recovers_linear_non_gaussian_orders():
    for seed in range(2):
        rng = np.random.default_rng(seed)
        x, g = linear_scm(5, 1000, rng, noise="uniform")
        # Standardized, so that scale cannot be what gives the order away.
        assert order_divergence(BASELINES["lingam"].fit_order(standardize(x), rng), g) == 0


def test_score_recovers_nonlinear_gaussian_anm_orders_at_raw_scale():
    fracs = []
    for seed in range(2):
        rng = np.random.default_rng(seed)
        x, g = anm_scm(5, 600, rng)
        fracs.append(frac_reversed(BASELINES["score"].fit_order(x, rng, device="cpu"), g))
    assert max(fracs) <= 0.2


def test_nogam_recovers_nonlinear_anm_orders_with_non_gaussian_noise():
    fracs = []
    for seed in range(2):
        rng = np.random.default_rng(seed)
        x, g = anm_scm(4, 500, rng, noise="uniform")
        fracs.append(frac_reversed(BASELINES["nogam"].fit_order(standardize(x), rng), g))
    assert max(fracs) <= 0.2


@pytest.mark.parametrize("name", ["lingam", "score", "nogam"])
def test_slow_baselines_are_deterministic_given_the_generator(name):
    x, _ = anm_scm(4, 200, np.random.default_rng(9))
    a = BASELINES[name].fit_order(x, np.random.default_rng(3))
    b = BASELINES[name].fit_order(x, np.random.default_rng(3))
    assert np.array_equal(a, b)


def test_varsort_is_at_chance_on_standardized_float32_data():
    """Rounding residue of standardized float32 columns (variance 1 +- 1e-8) is no signal."""
    from causal_amort.evaluation.metrics import frac_reversed
    from simulators.prior.sample import sample_dataset
    from simulators.prior.spec import load_spec

    spec = load_spec("test-in")
    reversed_, edges = 0.0, 0
    for seed in range(60):
        ds = sample_dataset(spec, 20, 1000, np.random.default_rng(seed))
        e = int(ds.graph.sum())
        reversed_ += frac_reversed(BASELINES["varsort"].fit_order(ds.x, np.random.default_rng(seed)), ds.graph) * e
        edges += e
    assert 0.42 < reversed_ / edges < 0.58


def interventional_linear_scm(d: int, n: int, targets: int, rng: np.random.Generator):
    """(x, mask, graph): a linear SCM whose rows split into an observational regime and one regime per
    target, where the target's value is redrawn from N(2, 1) (a perfect intervention); shuffled columns."""
    g = random_dag(d, 0.4, rng)
    w = g * rng.uniform(0.5, 1.5, (d, d)) * rng.choice([-1.0, 1.0], (d, d))
    regime = rng.integers(0, targets + 1, n)  # 0: observational
    chosen = rng.choice(d, targets, replace=False)
    x, mask = np.zeros((n, d)), np.zeros((n, d), dtype=bool)
    for j in range(d):
        x[:, j] = x @ w[:, j] + rng.normal(size=n)
        hit = np.isin(regime, np.flatnonzero(chosen == j) + 1)
        x[hit, j], mask[hit, j] = rng.normal(2.0, 1.0, hit.sum()), True
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    perm = rng.permutation(d)
    return x[:, perm], mask[:, perm], g[np.ix_(perm, perm)]


def test_intsort_reads_ancestors_off_the_interventions():
    from causal_amort.baselines.intsort import ancestor_tests

    rng = np.random.default_rng(11)
    reversed_all, reversed_few, reversed_plain = [], [], []
    for _ in range(4):
        x, mask, g = interventional_linear_scm(8, 3000, 8, rng)
        found = ancestor_tests(x, mask)
        closure = np.linalg.matrix_power(np.eye(8, dtype=int) + g, 8) > 0
        np.fill_diagonal(closure, False)
        assert (found & ~closure).sum() <= 1  # hardly a false ancestor
        assert (found & closure).sum() >= 0.8 * closure.sum()  # and most of the true ones
        reversed_all.append(frac_reversed(BASELINES["intsort"].fit_order(x, rng, mask=mask), g))
        reversed_plain.append(frac_reversed(BASELINES["varsort"].fit_order(x, rng, mask=mask), g))
        x, mask, g = interventional_linear_scm(8, 3000, 3, rng)
        reversed_few.append(frac_reversed(BASELINES["intsort"].fit_order(x, rng, mask=mask), g))
    assert np.mean(reversed_all) < 0.05 < 0.3 < np.mean(reversed_plain)
    assert np.mean(reversed_few) < 0.4  # three targets of eight: partial, still better than chance


def test_intsort_needs_masks_and_others_ignore_them():
    rng = np.random.default_rng(5)
    x, mask, _ = interventional_linear_scm(5, 400, 5, rng)
    with pytest.raises(InputError, match="needs intervention masks"):
        BASELINES["intsort"].fit_order(x, rng)
    with pytest.raises(InputError, match="bool of the data's shape"):
        BASELINES["intsort"].fit_order(x, rng, mask=mask[:, :4])
    nothing = BASELINES["intsort"].fit_order(x, np.random.default_rng(0), mask=np.zeros_like(mask))
    assert np.array_equal(nothing, np.random.default_rng(0).permutation(5))  # nothing found: the shuffle alone
    for name in ("varsort", "r2sort"):
        assert np.array_equal(BASELINES[name].fit_order(x, np.random.default_rng(1), mask=mask),
                              BASELINES[name].fit_order(x, np.random.default_rng(1)))

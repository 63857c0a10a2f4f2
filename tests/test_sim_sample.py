"""sample_dataset: well-formed outputs for every preset and seed, determinism, noise shapes,
interventions, standardization and the sortability it records."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from simulators.prior.graphs import is_acyclic
from simulators.core.errors import InputError
from simulators.prior.sample import sample_dataset
from simulators.prior.sortability import r2_sortability, sortability, var_sortability
from simulators.prior.spec import PRESETS, load_spec, spec_from_dict

SPECS = {name: load_spec(name) for name in PRESETS}


@settings(max_examples=25, deadline=None)
@given(preset=st.sampled_from(PRESETS), d=st.integers(2, 14), n=st.integers(1, 60),
       interventions=st.integers(0, 3), standardize=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_outputs_are_well_formed(preset, d, n, interventions, standardize, seed):
    spec = SPECS[preset]
    interventions = min(interventions, d)
    impossible = any(fam.edges_per_var[0] > (d - 1) / 2 for _, fam in spec.graphs)
    if impossible:
        with pytest.raises(InputError):
            sample_dataset(spec, d, n, np.random.default_rng(seed))
        return
    ds = sample_dataset(spec, d, n, np.random.default_rng(seed), interventions=interventions,
                        standardize=standardize, name="x")
    assert ds.x.shape == (n, d) and ds.x.dtype == np.float32 and np.isfinite(ds.x).all()
    assert ds.graph.shape == (d, d) and ds.graph.dtype == np.uint8 and set(np.unique(ds.graph)) <= {0, 1}
    assert is_acyclic(ds.graph) and not np.diag(ds.graph).any()
    position = np.argsort(ds.meta["order"])
    assert sorted(ds.meta["order"]) == list(range(d))
    causes, effects = np.nonzero(ds.graph)
    assert (position[causes] < position[effects]).all()  # the stored order is a topological order
    assert len(set(ds.names)) == d and ds.meta["edges"] == int(ds.graph.sum())
    for key in ("var_sortability", "var_sortability_raw", "r2_sortability"):
        assert ds.meta[key] is None or 0.0 <= ds.meta[key] <= 1.0
    if interventions:
        targets = [ds.names.index(t) for t in ds.meta["interventions"]]
        assert ds.mask.shape == (n, d) and ds.mask.dtype == bool
        assert set(np.flatnonzero(ds.mask.any(axis=0))) <= set(targets)
        assert ds.mask.sum(axis=1).max() <= 1  # one target per interventional row
    else:
        assert ds.mask is None
    if standardize and n > 1:
        np.testing.assert_allclose(ds.x.mean(axis=0), 0.0, atol=1e-4)
        std = ds.x.std(axis=0)
        assert np.all((np.abs(std - 1) < 1e-3) | (std == 0))


@pytest.mark.parametrize("preset", ["train", "test-out"])
def test_same_seed_same_dataset_bit_for_bit(preset):
    a, b, c = (sample_dataset(SPECS[preset], 12, 50, np.random.default_rng(s), interventions=2) for s in (7, 7, 8))
    assert a.x.tobytes() == b.x.tobytes() and (a.graph == b.graph).all() and (a.mask == b.mask).all()
    assert a.meta == b.meta
    assert a.x.tobytes() != c.x.tobytes()


def _roots_only(noise: dict) -> object:
    """A spec with no edges, so that the data are the noise itself."""
    return spec_from_dict({"graph": {"families": [{"kind": "erdos_renyi", "edges_per_var": [0.0, 0.0]}]},
                           "mechanism": {"families": [{"kind": "linear"}]}, "noise": {"families": [noise]}})


@pytest.mark.parametrize("kind, low, high", [
    ("gaussian", -0.2, 0.2), ("laplace", 2.4, 3.6), ("uniform", -1.3, -1.1), ("student_t", 2.0, np.inf),
    ("lognormal", 1.5, np.inf), ("heavy_t", 20.0, np.inf),
])
def test_noise_families_have_their_tails(kind, low, high):
    ds = sample_dataset(_roots_only({"kind": kind}), 8, 20000, np.random.default_rng(3), standardize=False)
    kurtosis = stats.kurtosis(ds.x, axis=0).mean()
    assert low < kurtosis < high, kurtosis


@pytest.mark.parametrize("exponent, low, high", [(0.5, -1.6, -1.2), (2.0, 6.0, 12.0)])
def test_power_noise_tails_follow_the_exponent(exponent, low, high):
    noise = {"kind": "power", "exponent": [exponent, exponent], "scale": [1.0, 1.0]}
    ds = sample_dataset(_roots_only(noise), 6, 40000, np.random.default_rng(5), standardize=False)
    assert low < stats.kurtosis(ds.x, axis=0).mean() < high
    assert np.allclose(ds.x.std(axis=0), 1.0, atol=0.1)  # the exact unit variance, not a sample's


def test_mixture_noise_is_multimodal_with_exact_unit_variance():
    noise = {"kind": "mixture", "separation": [4.0, 4.0], "components": [2, 2], "scale": [1.0, 1.0]}
    ds = sample_dataset(_roots_only(noise), 6, 40000, np.random.default_rng(6), standardize=False)
    assert np.allclose(ds.x.mean(axis=0), 0.0, atol=0.05) and np.allclose(ds.x.std(axis=0), 1.0, atol=0.05)
    # Two well-separated modes leave a dip between them: the density histogram is not unimodal.
    modes = 0
    for column in ds.x.T:
        hist, _ = np.histogram(column, bins=40)
        smooth = np.convolve(hist, np.ones(3) / 3, mode="same")
        peaks = (smooth[1:-1] > smooth[:-2]) & (smooth[1:-1] >= smooth[2:]) & (smooth[1:-1] > 0.2 * smooth.max())
        modes += peaks.sum() >= 2
    assert modes >= 4  # Dirichlet weights can hide a small mode in a few columns


def test_gumbel_noise_is_skewed_and_scales_are_random():
    ds = sample_dataset(_roots_only({"kind": "gumbel", "scale": [0.5, 3.0]}), 8, 20000, np.random.default_rng(4),
                        standardize=False)
    assert np.all(np.abs(stats.skew(ds.x, axis=0)) > 0.9)
    assert ds.x.std(axis=0).max() / ds.x.std(axis=0).min() > 1.5


def test_gamma_noise_skew_follows_its_shape_in_both_directions():
    noise = {"kind": "gamma", "shape": [1.0, 1.0], "scale": [1.0, 1.0]}
    ds = sample_dataset(_roots_only(noise), 12, 40000, np.random.default_rng(8), standardize=False)
    skew = stats.skew(ds.x, axis=0)
    assert np.allclose(np.abs(skew), 2.0, atol=0.3)  # 2 / sqrt(shape)
    assert (skew > 0).any() and (skew < 0).any()
    assert np.allclose(ds.x.mean(axis=0), 0.0, atol=0.05) and np.allclose(ds.x.std(axis=0), 1.0, atol=0.05)


def test_polynomial_mechanism_is_curved_and_tame_on_heavy_tails():
    """A child of one quadratic parent is determined by it through a curve that a line does not
    fit; under the heaviest power noise upstream, cubes stay finite and moderate."""
    spec = spec_from_dict({
        "graph": {"families": [{"kind": "erdos_renyi", "edges_per_var": [1.0, 1.0]}]},
        "mechanism": {"families": [{"kind": "polynomial", "degree": [2, 2], "output_scale": [3.0, 3.0]}]},
        "noise": {"families": [{"kind": "gaussian", "scale": [0.2, 0.2]}]}})
    curved = 0
    for seed in range(6):
        ds = sample_dataset(spec, 3, 20000, np.random.default_rng(seed), standardize=False)
        for cause, effect in zip(*np.nonzero(ds.graph)):
            if ds.graph[:, effect].sum() == 1:
                x, y = ds.x[:, cause], ds.x[:, effect]
                line, parabola = (y - np.polyval(np.polyfit(x, y, deg), x) for deg in (1, 2))
                assert parabola.std() < 0.3 * y.std()  # the parent determines the child
                curved += parabola.std() < 0.5 * line.std()
    assert curved >= 2
    heavy = spec_from_dict({
        "graph": {"families": [{"kind": "erdos_renyi", "edges_per_var": [2.0, 2.0]}]},
        "mechanism": {"families": [{"kind": "polynomial", "degree": [3, 3]}]},
        "noise": {"families": [{"kind": "power", "exponent": [2.0, 2.0]}]}})
    ds = sample_dataset(heavy, 12, 5000, np.random.default_rng(10), standardize=False)
    assert np.isfinite(ds.x).all() and np.abs(ds.x).max() < 1e3


def test_var_sortability_of_raw_linear_trees_is_near_one_and_recorded():
    """Each node has one parent (scale-free, 1 edge per new node) and |w| > 1: variance grows down
    every path on the raw scale. Standardizing removes it, and the metadata say so."""
    spec = spec_from_dict({
        "graph": {"families": [{"kind": "scale_free", "edges_per_var": [1.0, 1.0]}]},
        "mechanism": {"families": [{"kind": "linear", "weights": [1.5, 2.0]}]},
        "noise": {"families": [{"kind": "gaussian", "scale": [1.0, 1.0]}]}})
    raw = sample_dataset(spec, 10, 2000, np.random.default_rng(5), standardize=False)
    assert raw.meta["var_sortability"] > 0.95 and raw.meta["var_sortability_raw"] > 0.95
    assert var_sortability(raw.x, raw.graph) == pytest.approx(raw.meta["var_sortability"], abs=1e-6)
    std = sample_dataset(spec, 10, 2000, np.random.default_rng(5))
    assert std.meta["var_sortability"] == 0.5 and std.meta["var_sortability_raw"] > 0.95
    assert std.meta["r2_sortability"] == pytest.approx(raw.meta["r2_sortability"], abs=1e-6)


def test_sortability_counts_paths_and_ties():
    chain = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert sortability(np.array([1.0, 2.0, 3.0]), chain) == 1.0
    assert sortability(np.array([3.0, 2.0, 1.0]), chain) == 0.0
    assert sortability(np.array([1.0, 1.0, 1.0]), chain) == 0.5
    # Paths 0->1, 1->2, 0->2: only 1->2 increases.
    assert sortability(np.array([2.0, 1.0, 1.5]), chain) == pytest.approx(1 / 3)
    assert np.isnan(sortability(np.ones(3), np.zeros((3, 3))))
    rng = np.random.default_rng(6)
    x = rng.normal(size=(500, 3))
    x[:, 2] = x[:, 0] + x[:, 1] + 0.1 * rng.normal(size=500)  # X2 is well explained, X0 and X1 less so
    assert r2_sortability(x, np.array([[0, 0, 1], [0, 0, 1], [0, 0, 0]])) == 1.0


def test_mixed_mechanisms_and_internal_standardization_are_recorded():
    spec = spec_from_dict({
        "graph": {"families": [{"kind": "erdos_renyi", "edges_per_var": [2.0, 2.0]}]},
        "mechanism": {"mix_prob": 1.0, "internal_standardize_prob": 1.0,
                      "families": [{"kind": "linear"}, {"kind": "rff"}, {"kind": "mlp"}]},
        "noise": {"families": [{"kind": "gaussian"}]}})
    ds = sample_dataset(spec, 20, 200, np.random.default_rng(8), standardize=False)
    assert ds.meta["mechanism"]["family"] == "mixed" and ds.meta["mechanism"]["internal_standardize"]
    kinds = ds.meta["mechanism"]["per_variable"]
    has_parents = ds.graph.any(axis=0)
    assert all((k == "root") != bool(p) for k, p in zip(kinds, has_parents))
    assert len({k for k in kinds if k != "root"}) > 1
    np.testing.assert_allclose(ds.x.std(axis=0), 1.0, atol=1e-3)  # standardized as generated


LINEAR_GAUSSIAN = {"graph": {"families": [{"kind": "erdos_renyi", "edges_per_var": [2.0, 2.0]}]},
                   "mechanism": {"families": [{"kind": "linear", "weights": [1.0, 2.0]}]},
                   "noise": {"families": [{"kind": "gaussian"}]}}


def _explained_by_parents(kind: str, seeds: int = 10) -> list[tuple[float, float]]:
    """Per target with parents in linear-Gaussian SCMs with every variable intervened on (``kind``):
    the share of its variance its parents explain in its own regime, and in the observational rows."""
    spec = spec_from_dict(LINEAR_GAUSSIAN)
    shares = []
    for seed in range(seeds):
        ds = sample_dataset(spec, 5, 3000, np.random.default_rng(seed), interventions=5, intervention_kind=kind)
        assert ds.meta["intervention_kind"] == kind
        for t in range(5):
            parents = np.flatnonzero(ds.graph[:, t])
            if parents.size == 0:
                continue

            def explained(r: np.ndarray) -> float:
                fit = np.linalg.lstsq(np.c_[ds.x[r][:, parents], np.ones(r.sum())], ds.x[r, t], rcond=None)
                return 1 - fit[1][0] / (r.sum() * ds.x[r, t].var())

            shares.append((explained(ds.mask[:, t]), explained(~ds.mask.any(axis=1))))
    assert len(shares) >= 5
    return shares


def test_interventions_cut_the_parents():
    """A perfectly intervened variable is independent of its parents in its own regime."""
    assert all(own < 0.05 < observed for own, observed in _explained_by_parents("perfect"))


def test_shift_interventions_keep_the_parents_and_move_the_target():
    """A shift intervention keeps the target's mechanism: in its regime the parents still explain it,
    and its mean moves."""
    assert all(own > 0.5 * observed > 0.025 for own, observed in _explained_by_parents("shift"))
    ds = sample_dataset(spec_from_dict(LINEAR_GAUSSIAN), 5, 3000, np.random.default_rng(0), interventions=5,
                        intervention_kind="shift")
    assert min(abs(ds.x[ds.mask[:, t], t].mean() - ds.x[~ds.mask.any(axis=1), t].mean()) for t in range(5)) > 0.1


@pytest.mark.parametrize("kwargs, message", [
    ({"d": 1, "n": 10}, "d must be >= 2"), ({"d": 5, "n": 0}, "n must be >= 1"),
    ({"d": 5, "n": 10, "interventions": 6}, "interventions must be between 0 and d=5"),
    ({"d": 5, "n": 10, "interventions": 2, "intervention_kind": "soft"}, "intervention kind must be one of perfect, shift"),
])
def test_bad_sizes_are_input_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        sample_dataset(SPECS["train"], rng=np.random.default_rng(0), **kwargs)


def test_lognormal_noise_has_the_drawn_scale_and_a_skew_of_either_sign():
    noise = {"kind": "lognormal", "scale": [1.5, 1.5], "sigma": [0.5, 0.5]}
    x = sample_dataset(_roots_only(noise), 40, 20000, np.random.default_rng(4), standardize=False).x
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=0.06)
    np.testing.assert_allclose(x.std(axis=0), 1.5, rtol=0.06)
    skew = stats.skew(x, axis=0)
    assert (np.abs(skew) > 1.2).all() and (skew > 0).any() and (skew < 0).any()  # exact: 1.75

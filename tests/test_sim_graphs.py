"""Graph families: acyclic, the requested density, hub direction, and no information in index order."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.prior.graphs import is_acyclic
from simulators.core.errors import InputError
from simulators.prior.graphs import GRAPH_FAMILIES, ScaleFree, max_edges_per_var
from simulators.prior.sample import sample_dataset
from simulators.prior.spec import spec_from_dict

KINDS = sorted(GRAPH_FAMILIES)


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(KINDS), d=st.integers(2, 40), seed=st.integers(0, 2**32 - 1),
       density=st.floats(0.0, 4.0))
def test_every_family_draws_an_upper_triangular_dag(kind, d, seed, density):
    density = min(density, max_edges_per_var(d))
    family = GRAPH_FAMILIES[kind](edges_per_var=(density, density))
    dag, info = family.sample(d, np.random.default_rng(seed))
    assert dag.shape == (d, d) and dag.dtype == bool
    assert not np.tril(dag).any()  # i -> j only for i < j, hence acyclic
    assert info["family"] == kind


@pytest.mark.parametrize("kind", KINDS)
def test_mean_density_matches_the_target(kind):
    d, target = 60, 2.0
    family = GRAPH_FAMILIES[kind](edges_per_var=(target, target))
    rng = np.random.default_rng(0)
    mean = np.mean([family.sample(d, rng)[0].sum() / d for _ in range(20)])
    assert abs(mean - target) < 0.15 * target, mean


@pytest.mark.parametrize("hubs", ["causes", "effects"])
def test_scale_free_hubs_point_the_requested_way(hubs):
    rng = np.random.default_rng(1)
    out_minus_in = []
    for _ in range(10):
        dag, _ = ScaleFree(edges_per_var=(1.0, 1.0), hubs=hubs).sample(80, rng)
        out_minus_in.append(dag.sum(axis=1).max() - dag.sum(axis=0).max())
    # Hubs as causes: some node has many children, nobody has more than one parent; and vice versa.
    assert (np.mean(out_minus_in) > 3) == (hubs == "causes")
    assert (np.mean(out_minus_in) < -3) == (hubs == "effects")


def _spec(graph: dict) -> dict:
    return {"graph": {"families": [graph]}, "mechanism": {"families": [{"kind": "linear"}]},
            "noise": {"families": [{"kind": "gaussian"}]}}


@pytest.mark.parametrize("kind", KINDS)
def test_sampled_graphs_are_randomly_labeled(kind):
    """After the random relabeling, an edge points from the lower to the higher index half the time."""
    spec = spec_from_dict(_spec({"kind": kind, "edges_per_var": [2.0, 2.0]}))
    rng = np.random.default_rng(2)
    forward = total = 0
    for _ in range(30):
        graph = sample_dataset(spec, 12, 2, rng).graph
        forward += np.triu(graph).sum()
        total += graph.sum()
        assert is_acyclic(graph)
    assert 0.4 < forward / total < 0.6


def test_impossible_density_is_an_input_error():
    spec = spec_from_dict(_spec({"kind": "erdos_renyi", "edges_per_var": [3.0, 4.0]}))
    with pytest.raises(InputError, match="impossible for d=5"):
        sample_dataset(spec, 5, 10, np.random.default_rng(0))
    # The upper end is clipped to what d allows: d = 7 has at most 3 edges per variable.
    assert sample_dataset(spec, 7, 10, np.random.default_rng(0)).meta["edges_per_var"] <= 3.0


def test_layered_graphs_have_no_edges_within_a_layer():
    """With two layers every edge runs from the first to the second: no node has a parent and a child."""
    family = GRAPH_FAMILIES["layered"](edges_per_var=(1.0, 3.0), layers=(2, 2))
    for seed in range(10):
        dag, info = family.sample(15, np.random.default_rng(seed))
        assert info["layers"] == 2 and dag.any()
        assert not (dag.any(axis=0) & dag.any(axis=1)).any()

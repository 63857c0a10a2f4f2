"""Other simulators' conventions (simulators/external): graphs, mechanisms, seeding and the CSV suites."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from simulators.core.errors import InputError
from simulators.external import cdt, notears
from simulators.external.gp import gp_draw
from simulators.external.suites import RECORD, SUITES, external_dataset, write_external_suite
from simulators.storage.io import iter_datasets

ROOT = Path(__file__).resolve().parents[1]
# The GP suites factor an n x n kernel per mechanism: small n keeps them quick here.
SMALL_N = 300


@pytest.mark.parametrize("suite", list(SUITES))
def test_every_suite_draws_a_standardized_dag_dataset_that_its_seed_fixes(suite):
    ds = external_dataset(suite, 3, 8, SMALL_N, seed=11)
    assert ds.x.shape == (SMALL_N, 8) and ds.x.dtype == np.float32 and np.isfinite(ds.x).all()
    assert np.allclose(ds.x.mean(axis=0), 0.0, atol=1e-4) and np.allclose(ds.x.std(axis=0), 1.0, atol=1e-3)
    assert nx.is_directed_acyclic_graph(nx.from_numpy_array(ds.graph, create_using=nx.DiGraph))
    assert ds.graph.sum() > 0
    again = external_dataset(suite, 3, 8, SMALL_N, seed=11)
    assert np.array_equal(ds.x, again.x) and np.array_equal(ds.graph, again.graph)
    assert not np.array_equal(ds.x, external_dataset(suite, 4, 8, SMALL_N, seed=11).x)
    assert not np.array_equal(ds.x, external_dataset(suite, 3, 8, SMALL_N, seed=12).x)


@pytest.mark.parametrize("suite", ["notears-linear-gumbel-ER2", "notears-linear-exp-SF2", "cdt-linear"])
def test_the_written_graph_matches_the_shuffled_columns(suite):
    """In a linear SEM with independent noise, a variable's residual on its parents is uncorrelated
    with every non-descendant: true of the graph only where it was permuted with the columns."""
    ds = external_dataset(suite, 0, 12, 20000, seed=5)
    graph = nx.from_numpy_array(ds.graph, create_using=nx.DiGraph)
    checked = 0
    for j in range(12):
        parents = np.flatnonzero(ds.graph[:, j])
        others = [k for k in range(12) if k != j and k not in nx.descendants(graph, j) and k not in parents]
        if parents.size == 0 or not others:
            continue
        design = np.column_stack([ds.x[:, parents], np.ones(len(ds.x))])
        residual = ds.x[:, j] - design @ np.linalg.lstsq(design, ds.x[:, j], rcond=None)[0]
        correlations = [abs(np.corrcoef(residual, ds.x[:, k])[0, 1]) for k in others]
        assert max(correlations) < 0.05, (j, correlations)
        checked += 1
    assert checked >= 2


def test_notears_graphs_have_the_published_edge_counts():
    rng = np.random.default_rng(0)
    er = notears.simulate_dag(20, 2, "ER", rng)
    assert er.sum() == 40
    sf = notears.simulate_dag(20, 2, "SF", rng)
    assert sf.sum() == sum(min(2, t) for t in range(1, 20))  # node t sends min(m, t) edges
    assert sf.sum(axis=1).max() <= 2  # every node causes at most m earlier ones: hubs are effects
    assert sf.sum(axis=0).max() > 2
    with pytest.raises(ValueError, match="unknown NOTEARS graph"):
        notears.simulate_dag(5, 1, "BP", rng)


def test_cdt_dag_keeps_generation_order_and_at_most_five_parents():
    graph = cdt.simulate_dag(30, np.random.default_rng(1))
    assert not np.tril(graph).any()
    assert graph.sum(axis=0).max() <= cdt.PARENTS_MAX


def test_gp_draws_follow_the_rbf_kernel():
    rng = np.random.default_rng(2)
    points = np.array([[0.0], [0.5], [5.0]])
    draws = np.array([gp_draw(points, rng) for _ in range(4000)])
    assert abs(draws.var(axis=0).mean() - 1.0) < 0.1
    assert abs(np.corrcoef(draws[:, 0], draws[:, 1])[0, 1] - np.exp(-0.125)) < 0.03
    assert abs(np.corrcoef(draws[:, 0], draws[:, 2])[0, 1]) < 0.06


def test_writing_a_suite_resumes_and_refuses_other_settings(tmp_path):
    out = tmp_path / "cdt-nn"
    assert list(write_external_suite("cdt-nn", out, num=3, d=5, n=50, seed=1)) == [1, 2, 3]
    first = (out / "cdt-nn-00000.csv").read_bytes()
    assert [ds.name for ds in iter_datasets(out)] == [f"cdt-nn-0000{i}" for i in range(3)]
    assert all(ds.graph is not None for ds in iter_datasets(out))
    (out / "cdt-nn-00001.csv").unlink()
    list(write_external_suite("cdt-nn", out, num=3, d=5, n=50, seed=1))  # resumes: writes only the missing one
    assert (out / "cdt-nn-00001.csv").exists() and (out / "cdt-nn-00000.csv").read_bytes() == first
    with pytest.raises(InputError, match="other settings"):
        list(write_external_suite("cdt-nn", out, num=3, d=5, n=50, seed=2))
    assert (out / "cdt-nn-00000.csv").read_bytes() == first and '"seed": 1' in (out / RECORD).read_text()
    (out / RECORD).write_text("{not json")
    with pytest.raises(InputError, match="other settings"):
        list(write_external_suite("cdt-nn", out, num=3, d=5, n=50, seed=1))
    with pytest.raises(InputError, match="unknown external suite"):
        list(write_external_suite("cdt-bogus", tmp_path / "bogus", num=1, d=5, n=50, seed=1))
    assert not (tmp_path / "bogus").exists()
    with pytest.raises(InputError, match="seed must be >= 0"):
        list(write_external_suite("cdt-nn", tmp_path / "negative", num=1, d=5, n=50, seed=-1))
    assert not (tmp_path / "negative").exists()


def test_the_script_refuses_an_unknown_suite_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "scripts/external_suites.py", "--out", str(tmp_path), "--seed", "1",
                           "--suites", "nope"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0 and "unknown suites: nope" in done.stderr and "Traceback" not in done.stderr
    assert not any(tmp_path.iterdir())

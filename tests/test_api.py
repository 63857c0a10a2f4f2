"""The Python API: the README's snippet as it stands, `AmortizedOrder` in lingam's style, one
answer whatever the form of the data (array, DataFrame, chunks of any size, a CSV reader), and
one-line errors."""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import causal_amort
from causal_amort.model.checkpoint import save_checkpoint
from causal_amort.config import load_config
from causal_amort.model.order_model import OrderModel
from causal_amort.inference.predict import predict_csv
from causal_amort.inference.stream import spread_quantiles
from simulators.core.zscore import zscore
from simulators.storage.csv_read import sample_rows
from simulators.storage.csvio import read_csv_dataset

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_snippet() -> str:
    section = README.read_text(encoding="utf-8").split("## From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_snippet_runs_as_it_stands(capsys):
    exec(compile(readme_snippet(), str(README), "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    assert "['treatment', 'dose', 'outcome']" in printed


def test_public_names_are_listed_and_documented():
    for name in causal_amort.__all__:
        value = getattr(causal_amort, name)
        assert value.__doc__ and name in causal_amort.__doc__
    with pytest.raises(AttributeError):
        causal_amort.no_such_name  # noqa: B018


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cfg = load_config("tiny", {"data.chunk_size": 25})
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt"), "best", OrderModel(cfg.model), cfg, step=0)
    return causal_amort.load_model(path, device="cpu")


def linear_non_gaussian(n=400, seed=0):
    """x0 -> x1 -> x3, x0 -> x2 -> x3, uniform noise."""
    rng = np.random.default_rng(seed)
    e = rng.uniform(-1, 1, (n, 4))
    x0 = e[:, 0]
    x1 = 1.5 * x0 + e[:, 1]
    x2 = -x0 + e[:, 2]
    x3 = x1 - 2 * x2 + e[:, 3]
    return np.column_stack([x0, x1, x2, x3])


@pytest.mark.parametrize("prune", ["lasso", "cam"])
def test_amortized_order_on_a_linear_non_gaussian_scm(tiny, prune):
    x = linear_non_gaussian()
    est = causal_amort.AmortizedOrder(model=tiny, prune=prune).fit(x)
    assert sorted(est.causal_order_) == [0, 1, 2, 3] and all(isinstance(i, int) for i in est.causal_order_)
    assert est.confidence_.shape == (4,) and ((est.confidence_ > 0) & (est.confidence_ <= 1)).all()
    adjacency = est.adjacency_matrix_
    assert adjacency.shape == (4, 4)
    position = {v: k for k, v in enumerate(est.causal_order_)}
    # lingam's orientation: [i, j] != 0 when j -> i, and a cause comes earlier in the order.
    assert all(position[j] < position[i] for i, j in zip(*np.nonzero(adjacency)))
    graph = causal_amort.prune_order(x, np.array(est.causal_order_), method=prune)
    assert ((adjacency != 0) == graph.T).all()
    if prune == "cam":  # its fits are not linear: an edge is 1
        assert set(np.unique(adjacency)) <= {0.0, 1.0}
    assert list(est.feature_names_in_) == ["X0", "X1", "X2", "X3"]


def test_lasso_adjacency_holds_each_parents_least_squares_coefficient_in_the_datas_units():
    from causal_amort.inference.pruning import lingam_adjacency

    rng = np.random.default_rng(5)
    e = rng.laplace(size=(4000, 3))
    a = 10 * e[:, 0] + 3                      # columns on different scales: coefficients in raw units
    b = 0.02 * a + 0.5 * e[:, 1]
    c = 4 * b - 0.3 * a + e[:, 2]
    x = np.column_stack([c, a, b])            # X1 -> X2, X1 -> X0, X2 -> X0
    graph = np.zeros((3, 3), dtype=np.uint8)
    graph[1, 2] = graph[1, 0] = graph[2, 0] = 1
    weights = lingam_adjacency(x, graph, "lasso")
    expected = np.zeros((3, 3))
    expected[2, 1], expected[0, 1], expected[0, 2] = 0.02, -0.3, 4.0
    np.testing.assert_allclose(weights, expected, rtol=0.05)
    ols = np.linalg.lstsq(np.c_[x[:, 1:], np.ones(4000)], x[:, 0], rcond=None)[0][:2]
    np.testing.assert_allclose(weights[0, 1:], ols, rtol=1e-8)  # the refit is plain least squares
    np.testing.assert_array_equal(lingam_adjacency(x, graph, "cam"), graph.T.astype(float))


def test_amortized_order_with_the_default_model_and_constraints():
    frame = pd.DataFrame(linear_non_gaussian(), columns=["a", "b", "c", "d"])
    est = causal_amort.AmortizedOrder(prune=None, constraints=["d<a", "c<b"], device="cpu").fit(frame)
    names = list(est.feature_names_in_)
    order = [names[i] for i in est.causal_order_]
    assert order.index("d") < order.index("a") and order.index("c") < order.index("b")
    assert not hasattr(est, "adjacency_matrix_")


def test_one_answer_whatever_the_form_of_the_data(tiny, tmp_path):
    x = linear_non_gaussian(n=130)
    names = ["a", "b", "c", "d"]
    frame = pd.DataFrame(x, columns=names)
    reference = tiny.order(x, names)
    assert reference.rows == 130 and reference.names == names
    assert reference.order == [names[i] for i in reference.indices]
    uneven = iter([frame.iloc[s:e] for s, e in [(0, 7), (7, 60), (60, 61), (61, 130)]])
    path = tmp_path / "x.csv"
    frame.to_csv(path, index=False)
    # Names come from the DataFrames' columns, or are given with numpy chunks.
    for data, given in ((frame, None), (uneven, None), (pd.read_csv(path, chunksize=11), None),
                        (iter(np.array_split(x, 9)), names)):
        result = tiny.order(data, given)
        assert result.order == reference.order and result.rows == 130
        np.testing.assert_allclose(result.confidence, reference.confidence, rtol=1e-5)


@pytest.fixture(scope="module")
def tiny_stats(tmp_path_factory):
    cfg = load_config("tiny", {"data.chunk_size": 25, "model.encoder": "stats", "model.state": "none",
                               "model.pair_dim": 8})
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt"), "best", OrderModel(cfg.model), cfg, step=0)
    return causal_amort.load_model(path, device="cpu")


def test_row_order_does_not_change_the_answer_for_an_array_a_stream_or_a_file(tiny_stats, tmp_path):
    """A statistics model fixes its standardization on each column's order statistics over an array
    (over the first block of a stream, which here is all of it; predict likewise over a file of one
    parser block): the rows in any order give the same answer, the first rows alone another."""
    x = linear_non_gaussian(n=300).astype(np.float32)
    x = x[np.argsort(x[:, 0])]  # sorted by a cause: the first rows are a narrow slice
    reference = tiny_stats.order(x)
    first_rows = tiny_stats.order(x, standardize_on=x[: tiny_stats.chunk_size])
    streamed = tiny_stats.order(iter(np.array_split(x, 7)))  # its first block (4096 rows) holds all 300
    shuffled = tiny_stats.order(x[np.random.default_rng(0).permutation(len(x))])
    assert not np.allclose(first_rows.confidence, reference.confidence, rtol=1e-3)
    for other in (streamed, shuffled):
        assert other.order == reference.order
        np.testing.assert_allclose(other.confidence, reference.confidence, rtol=1e-4)
    path = tmp_path / "sorted.csv"
    np.savetxt(path, x, delimiter=",", fmt="%.9g", header="X0,X1,X2,X3", comments="")
    predicted = predict_csv(path, tiny_stats)
    assert predicted.order == reference.order
    np.testing.assert_allclose(predicted.confidence, reference.confidence, rtol=1e-4)


def test_predict_standardizes_a_long_sorted_file_on_rows_read_throughout_it(tiny_stats, tmp_path):
    """Past one parser block (65,536 rows) predict reads its standardization rows at evenly spaced
    offsets of the file, not from its first block."""
    x = np.random.default_rng(5).uniform(-1, 1, (150_000, 3)).astype(np.float32)  # the first block: 44%
    x[:, 1] += 2 * x[:, 0]
    x = x[np.argsort(x[:, 0])]
    path = tmp_path / "long.csv"
    np.savetxt(path, x, delimiter=",", fmt="%.9g", header="a,b,c", comments="")
    sampled = sample_rows(path, tiny_stats.chunk_size)
    assert len(sampled) == 25 and sampled[0, 0] < -0.99 and sampled[-1, 0] > 0.9  # from every part of the file
    predicted = predict_csv(path, tiny_stats)
    reference = tiny_stats.order(x, ["a", "b", "c"], standardize_on=sampled)
    first_block = tiny_stats.order(x, ["a", "b", "c"], standardize_on=spread_quantiles(x[:65536], 25))
    assert predicted.order == reference.order
    np.testing.assert_allclose(predicted.confidence, reference.confidence, rtol=1e-4)
    assert not np.allclose(first_block.confidence, reference.confidence, rtol=1e-3)


def test_a_column_far_from_zero_keeps_its_digits_in_every_form_of_the_data(tiny_stats, tmp_path):
    """float32 keeps 24 bits, so 10^7 + x cast as it is would keep x in whole numbers. Every reader
    subtracts an offset from such a column first (`simulators.core.float32`), and the model is blind to
    a shift: the answer is the one for the data without the offsets."""
    x = linear_non_gaussian(n=300)
    far = x + np.array([1e7, -3e8, 0.0, 5e6])
    reference = tiny_stats.order(x)
    path = tmp_path / "far.csv"
    np.savetxt(path, far, delimiter=",", fmt="%.17g", header="X0,X1,X2,X3", comments="")
    frame = pd.DataFrame(far, columns=["X0", "X1", "X2", "X3"])
    answers = [tiny_stats.order(far), tiny_stats.order(iter(np.array_split(far, 7))),
               tiny_stats.order_many([far])[0], predict_csv(path, tiny_stats), tiny_stats.order(frame),
               tiny_stats.order(iter(np.array_split(frame, 7)))]
    for got in answers:
        assert got.order == reference.order
        np.testing.assert_allclose(got.confidence, reference.confidence, rtol=1e-4)
    # the estimator prunes and regresses on the values as given: a DataFrame's digits too
    plain = causal_amort.AmortizedOrder(tiny_stats).fit(x)
    shifted = causal_amort.AmortizedOrder(tiny_stats).fit(frame)
    np.testing.assert_allclose(shifted.adjacency_matrix_, plain.adjacency_matrix_, rtol=1e-6, atol=1e-9)
    read = read_csv_dataset(path)  # as `amort eval` reads a CSV folder
    np.testing.assert_allclose(zscore(read.x.astype(np.float64)), zscore(x), atol=1e-5)


def test_bootstrap_orders_row_resamples_as_order_does_and_counts_them(tiny_stats):
    x = linear_non_gaussian(n=120)
    mask = np.zeros(x.shape, dtype=bool)
    mask[:30, 1] = True
    est = causal_amort.AmortizedOrder(tiny_stats, prune="lasso", constraints="X3<X2")
    result = est.bootstrap(x, 5, mask=mask, seed=3)
    assert result.orders_.shape == (5, 4) and result.adjacency_matrices_.shape == (5, 4, 4)
    assert result.resampled_indices_.shape == (5, 120) and not hasattr(est, "causal_order_")
    for k in (0, 4):  # each resample is ordered as `order` orders those rows, mask and constraints included
        rows = result.resampled_indices_[k]
        alone = tiny_stats.order(x[rows], mask=mask[rows], constraints="X3<X2")
        assert list(result.orders_[k]) == list(alone.indices)
        assert ((result.adjacency_matrices_[k] != 0) == causal_amort.prune_order(x[rows], alone.indices).T).all()
    precede = result.get_precedence_probabilities()
    assert (np.diag(precede) == 0).all() and np.allclose(precede + precede.T + np.eye(4), 1)
    assert (precede[3, 2] == 1.0) and precede[2, 3] == 0.0  # the constraint holds in every resample
    assert np.allclose(result.get_probabilities(), (result.adjacency_matrices_ != 0).mean(axis=0))
    strong = np.abs(result.adjacency_matrices_) > 1.2  # lingam's min_causal_effect keeps only the larger ones
    assert np.allclose(result.get_probabilities(min_causal_effect=1.2), strong.mean(axis=0))
    for bad in (-0.1, "1", True, float("nan")):
        with pytest.raises(causal_amort.InputError, match="min_causal_effect must be a number of at least 0"):
            result.get_probabilities(min_causal_effect=bad)
    again = est.bootstrap(x, 5, mask=mask, seed=3)
    assert (again.resampled_indices_ == result.resampled_indices_).all() and (again.orders_ == result.orders_).all()
    assert not (est.bootstrap(x, 5, seed=4).resampled_indices_ == result.resampled_indices_).all()
    bare = causal_amort.AmortizedOrder(tiny_stats, prune=None).bootstrap(x, 2)
    assert bare.adjacency_matrices_ is None
    with pytest.raises(causal_amort.InputError, match="prune=None"):
        bare.get_probabilities()


def test_total_effects_adjust_for_the_fitted_parents_as_lingam_does():
    rng = np.random.default_rng(7)
    e = rng.laplace(size=(5000, 3))
    z = e[:, 0]                                   # z confounds t -> y: the effect of t is 2, not the raw slope
    t = 1.5 * z + e[:, 1]
    y = 2.0 * t - 3.0 * z + e[:, 2]
    x = np.column_stack([y, z, t])
    est = causal_amort.AmortizedOrder(prune="lasso")  # as fit would set it: z, t, y; lingam's [effect, cause]
    est.causal_order_, est.adjacency_matrix_ = [1, 2, 0], np.array([[0, -3.0, 2.0], [0, 0, 0], [0, 1.5, 0]])
    assert abs(est.estimate_total_effect(x, 2, 0) - 2.0) < 0.05
    assert abs(est.estimate_total_effect(x, 1, 0) - (-3.0 + 1.5 * 2.0)) < 0.1  # z's total effect: through t too
    raw = np.polyfit(t, y, 1)[0]
    assert abs(raw - 2.0) > 0.5  # without the adjustment the slope is confounded
    with pytest.warns(RuntimeWarning, match="places 2 \\(to_index\\) before 0"):
        est.estimate_total_effect(x, 0, 2)
    for args, needle in [((x, 0, 0), "both 0"), ((x, 3, 0), "from_index must be a column index from 0 to 2"),
                         ((x, 1, True), "to_index must be"), ((x[:, :2], 1, 0), "rows of the 3 variables")]:
        with pytest.raises(causal_amort.InputError, match=needle):
            est.estimate_total_effect(*args)
    with pytest.raises(causal_amort.InputError, match="call fit"):
        causal_amort.AmortizedOrder(prune=None).estimate_total_effect(x, 2, 0)


def test_bootstrap_counts_directions_and_dags_as_lingam_does():
    from causal_amort.inference.bootstrap import BootstrapResult

    a = np.zeros((3, 3))
    a[1, 0], a[2, 1] = 0.8, -0.1                  # X0 -> X1, X1 -> X2 (weak, negative)
    b = a.copy()
    b[2, 1], b[2, 0] = 0.0, -2.0                  # X0 -> X1, X0 -> X2
    c = a.copy()
    c[2, 1] = 0.3                                 # X1 -> X2 now positive
    result = BootstrapResult(orders_=np.tile([0, 1, 2], (4, 1)), adjacency_matrices_=np.stack([a, b, a, c]),
                             resampled_indices_=np.zeros((4, 5), dtype=np.int64))
    assert result.get_causal_direction_counts() == {"from": [0, 1, 0], "to": [1, 2, 2], "count": [4, 3, 1]}
    assert result.get_causal_direction_counts(n_directions=1, min_causal_effect=0.2) == {
        "from": [0], "to": [1], "count": [4]}
    assert result.get_causal_direction_counts(split_by_causal_effect_sign=True) == {
        "from": [0, 1, 0, 1], "to": [1, 2, 2, 2], "count": [4, 2, 1, 1], "sign": [1, -1, -1, 1]}
    dags = result.get_directed_acyclic_graph_counts()
    assert dags == {"dag": [{"from": [0, 1], "to": [1, 2]}, {"from": [0, 0], "to": [1, 2]}], "count": [3, 1]}
    signed = result.get_directed_acyclic_graph_counts(n_dags=2, split_by_causal_effect_sign=True)
    assert signed["count"] == [2, 1] and signed["dag"][0] == {"from": [0, 1], "to": [1, 2], "sign": [1, -1]}
    assert result.get_directed_acyclic_graph_counts(min_causal_effect=0.5)["count"] == [3, 1]
    for call in (lambda: result.get_causal_direction_counts(n_directions=0),
                 lambda: result.get_directed_acyclic_graph_counts(n_dags=2.5)):
        with pytest.raises(causal_amort.InputError, match="must be an integer greater than 0"):
            call()


def test_the_calibration_script_scores_each_true_edge_by_its_support_and_the_order_on_all_rows(tiny_stats,
                                                                                              script_module):
    calibration = script_module("bootstrap_calibration")
    x = linear_non_gaussian(n=200, seed=1)
    graph = np.zeros((4, 4), dtype=np.uint8)
    graph[0, 1] = graph[0, 2] = graph[1, 3] = graph[2, 3] = 1
    support, right = calibration.edge_support(tiny_stats, x, graph, resamples=6, seed=0)
    position = np.argsort(tiny_stats.order(x).indices)
    assert list(right) == [float(position[i] < position[j]) for i, j in zip(*np.nonzero(graph))]
    assert support.shape == (4,) and ((support >= 0) & (support <= 1)).all()
    precede = causal_amort.AmortizedOrder(tiny_stats, prune=None).bootstrap(x, 6, seed=0).get_precedence_probabilities()
    assert support[0] == (precede[0, 1] if right[0] else precede[1, 0])


@pytest.mark.parametrize("n_sampling", [0, -2, 2.5, True, "3"])
def test_bootstrap_refuses_a_count_of_resamples_that_is_not_a_whole_number_above_zero(tiny_stats, n_sampling):
    with pytest.raises(causal_amort.InputError, match="n_sampling must be an integer greater than 0"):
        causal_amort.AmortizedOrder(tiny_stats).bootstrap(linear_non_gaussian(n=60), n_sampling)


@pytest.mark.parametrize("fixture", ["tiny", "tiny_stats"])  # a model that reads every chunk, one that sums them
def test_order_many_gives_each_dataset_the_order_that_order_gives_it(fixture, request):
    model = request.getfixturevalue(fixture)
    datasets = [linear_non_gaussian(n=130, seed=s) for s in range(3)]
    datasets += [np.random.default_rng(3).standard_normal((60, 5)),  # another shape: its own batch
                 pd.DataFrame(linear_non_gaussian(n=130, seed=9), columns=list("abcd"))]
    many = model.order_many(datasets, batch_size=2)  # the four of one shape in two batches
    for data, got in zip(datasets, many):
        alone = model.order(data)
        assert got.order == alone.order and got.names == alone.names and got.rows == alone.rows
        np.testing.assert_allclose(got.confidence, alone.confidence, rtol=1e-4, atol=1e-6)
    constrained = model.order_many(datasets[:3], constraints="X3<X0")
    for data, got in zip(datasets[:3], constrained):
        assert got.order.index("X3") < got.order.index("X0")
        assert got.order == model.order(data, constraints="X3<X0").order
    assert model.order_many([]) == []


@pytest.mark.parametrize("call, message", [
    (lambda m: m.order_many([np.ones((30, 2)), np.full((30, 2), np.nan)]), "dataset 1 holds NaN or infinite values"),
    (lambda m: m.order_many([np.ones((10, 3))]), "10 rows, but the model needs at least 25"),
    (lambda m: m.order_many([np.ones((30, 3))], batch_size=0), "batch_size must be at least 1, got 0"),
    (lambda m: m.order(np.zeros((30, 2, 2))), "the data must be 2-d (rows, variables), got shape (30, 2, 2)"),
    (lambda m: m.order(np.ones((10, 3))), "10 rows, but the model needs at least 25"),
    (lambda m: m.order(iter([np.ones((10, 3))])), "10 rows, but the model needs at least 25"),
    (lambda m: m.order(iter([])), "no data: the iterator of chunks is empty"),
    (lambda m: m.order(iter([np.ones((30, 3)), np.ones((30, 4))])), "chunk 1 has 4 variables, earlier chunks had 3"),
    (lambda m: m.order(np.ones((30, 3)), ["a", "b"]), "2 names for 3 variables"),
    (lambda m: m.order(np.ones((30, 3)), ["a", "b", "a"]), "duplicate variable name 'a'"),
    (lambda m: m.order(pd.DataFrame({"a": np.ones(30), "b": ["x"] * 30})), "column 'b' is not numeric"),
    (lambda m: m.order(np.full((30, 2), np.nan)), "holds NaN or infinite values"),
    (lambda m: m.order(np.full((30, 2), 1e300)), "or values beyond float32's range"),
    (lambda m: m.order(np.array([["a", "b"]] * 30)), "chunk 0 must hold real numbers, got dtype <U1"),
    (lambda m: m.order(np.ones((30, 3)), constraints="X0<X9"), "require X0<X9: unknown variable 'X9'"),
    (lambda m: causal_amort.AmortizedOrder(m, prune="ridge").fit(np.ones((30, 3))), "unknown pruning method 'ridge'"),
    (lambda m: causal_amort.AmortizedOrder(m).fit(iter([np.ones((30, 3))])), "fit needs the data as an array"),
    (lambda m: causal_amort.AmortizedOrder(m).bootstrap(iter([np.ones((30, 3))]), 2), "bootstrap needs the data as"),
    (lambda m: causal_amort.AmortizedOrder(m).bootstrap(np.ones(30), 2), "the data must be 2-d"),
    (lambda m: causal_amort.AmortizedOrder(m).bootstrap(pd.DataFrame(np.ones((30, 2)), columns=["a", "a"]), 2),
     "duplicate variable name 'a'"),
    (lambda m: causal_amort.AmortizedOrder(m).bootstrap(np.ones((10, 3)), 2), "10 rows, but the model needs at least 25"),
    (lambda m: causal_amort.AmortizedOrder(m).bootstrap(np.ones((30, 3)), 2, mask=np.ones((30, 2))),
     "the mask has shape (30, 2), the data (30, 3)"),
    (lambda m: causal_amort.load_model("default", device="tpu"), "device must be auto, cpu or cuda"),
])
def test_bad_input_raises_one_line_input_errors(tiny, call, message):
    with pytest.raises(causal_amort.InputError) as info:
        call(tiny)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_mask_is_read_the_same_from_an_array_a_dataframe_a_stream_and_a_file(tiny_stats, tmp_path):
    """An intervention mask changes what the model sums (intervened rows apart), and every form of the
    same data and mask gives the order `stream_orders` gives them directly."""
    from causal_amort.inference.stream import stream_orders
    from simulators.prior.sample import sample_dataset
    from simulators.prior.spec import load_spec

    model = tiny_stats
    ds = sample_dataset(load_spec("train"), 6, 300, np.random.default_rng(2), interventions=3)
    *_, direct = stream_orders(model.net, [ds.x], device="cpu", masks=[ds.mask],
                               standardize_on=spread_quantiles(ds.x, model.chunk_size))
    frame, mask_frame = pd.DataFrame(ds.x, columns=ds.names), pd.DataFrame(ds.mask.astype(int), columns=ds.names)
    frame.to_csv(tmp_path / "x.csv", index=False)
    mask_frame.to_csv(tmp_path / "x.mask.csv", index=False)
    results = [model.order(ds.x, mask=ds.mask), model.order(frame, mask=mask_frame),
               model.order(iter(np.array_split(ds.x, 4)), mask=iter(np.array_split(ds.mask, 4))),
               predict_csv(tmp_path / "x.csv", model, mask=tmp_path / "x.mask.csv")]
    orders = [list(r.order) for r in results]
    assert orders == [[ds.names[i] for i in direct.order]] * 4
    np.testing.assert_allclose(results[0].confidence, direct.confidence, atol=1e-5)
    pooled = model.order(ds.x)
    assert not np.allclose(pooled.confidence, results[0].confidence)  # the mask was read
    fitted = causal_amort.AmortizedOrder(model, prune=None).fit(frame, mask=mask_frame)
    assert fitted.causal_order_ == [int(i) for i in direct.order]
    # Many datasets, masked and not, of one shape: masked ones batch apart, each as `order` reads it alone.
    others = [sample_dataset(load_spec("train"), 6, 300, np.random.default_rng(seed), interventions=2) for seed in (4, 5)]
    datasets = [ds.x, others[0].x, others[1].x, ds.x]
    masks = [ds.mask, others[0].mask, None, None]
    for got, x, m in zip(model.order_many(datasets, masks=masks, batch_size=2), datasets, masks):
        alone = model.order(x, mask=m)
        assert got.order == alone.order
        np.testing.assert_allclose(got.confidence, alone.confidence, rtol=1e-4, atol=1e-6)
    with pytest.raises(causal_amort.InputError, match="1 masks for 2 datasets"):
        model.order_many([ds.x, ds.x], masks=[ds.mask])
    with pytest.raises(causal_amort.InputError, match=r"dataset 0: the mask has shape \(299, 6\)"):
        model.order_many([ds.x], masks=[ds.mask[:-1]])


@pytest.mark.parametrize("mask, message", [
    (lambda m: m[:-1], r"the mask has shape \(299, 6\), the data \(300, 6\)"),
    (lambda m: m * 2, "only 0 and 1"),
    (lambda m: iter([m]), "the mask must come as the data do"),
])
def test_a_bad_mask_is_refused_in_one_line(tiny_stats, mask, message):
    model = tiny_stats
    x = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)
    m = np.zeros((300, 6), dtype=int)
    m[:50, 0] = 1
    with pytest.raises(causal_amort.InputError, match=message):
        model.order(x, mask=mask(m))
    with pytest.raises(causal_amort.InputError, match="mask chunk 1 has shape"):
        model.order(iter([x[:150], x[150:]]), mask=iter([m[:150], m[150:, :5]]))

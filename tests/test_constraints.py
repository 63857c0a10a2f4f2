"""Prior knowledge: the must-precede matrix, its refusals (library and `amort predict`, exit 2),
decoding that honours it on random graphs (greedy and beam), and `amort eval --reveal`."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from causal_amort.model.checkpoint import save_checkpoint
from causal_amort.config import ModelConfig, load_config
from causal_amort.inference.constraints import Constraints, precede_matrix, read_tiers, reveal_edges
from causal_amort.model.order_model import OrderModel
from cli.app import app
from simulators.storage.csvio import write_csv_dataset
from simulators.core.errors import InputError
from simulators.storage.io import iter_datasets
from simulators.storage.suite import SuitePlan, write_suite
from simulators.prior.spec import load_spec

runner = CliRunner()
NAMES = ["a", "b", "c", "d", "e"]


def pairs_of(matrix):
    return {(NAMES[i], NAMES[j]) for i, j in zip(*np.nonzero(matrix))}


def test_each_form_becomes_must_precede_pairs():
    assert pairs_of(precede_matrix(Constraints(require=["a<b", ("c", "a")]), NAMES)) == {("a", "b"), ("c", "a")}
    tiers = precede_matrix(Constraints(tiers=["e", "a, b"]), NAMES)
    assert pairs_of(tiers) == {("e", "a"), ("e", "b")}  # unlisted c and d are free
    first = precede_matrix(Constraints(first="c"), NAMES)
    assert pairs_of(first) == {("c", n) for n in NAMES if n != "c"}
    last = precede_matrix(Constraints(last=["a", "b"]), NAMES)
    assert pairs_of(last) == {(n, m) for n in "cde" for m in "ab"}  # a and b free between them


@pytest.mark.parametrize("constraints, message", [
    (dict(require=["a<q"]), "require a<q: unknown variable 'q'; the variables are a, b, c, d, e"),
    (dict(first=["A"]), "first A: unknown variable 'A' (did you mean 'a'?)"),
    (dict(tiers=[["a"], ["zz"]]), "tiers (tier 2): unknown variable 'zz'; the variables are a, b, c, d, e"),
    (dict(require=["a<a"]), "require a<a: a variable cannot come before itself"),
    (dict(require=["a<b", "b<c", "c<a"]),
     "contradictory constraints: require c<a conflicts with require a<b, require b<c"),
    (dict(tiers=["a", "b"], require=["b<a"]),
     "contradictory constraints: require b<a conflicts with tiers (a in tier 1, b in tier 2)"),
    (dict(first="e", last="e"),
     "contradictory constraints: last e (so a<e) conflicts with first e (so e<a)"),
])
def test_unknown_names_and_contradictions_are_refused_by_name(constraints, message):
    with pytest.raises(InputError) as info:
        precede_matrix(Constraints(**constraints), NAMES)
    assert str(info.value) == message


@pytest.mark.parametrize("constraints, message", [
    (dict(require=["a>b"]), "require 'a>b': expected A<B (A comes before B)"),
    (dict(require=["a<b<c"]), "require 'a<b<c': expected A<B"),
    (dict(tiers=["a,,b"]), "tier 1 has an empty name (a stray comma?): 'a,,b'"),
    (dict(tiers=[["a"], []]), "tier 2 is empty"),
    (dict(tiers=["a, b", "c, a"]), "tiers: 'a' is in tier 1 and tier 2; a variable belongs to one tier"),
])
def test_malformed_constraints_are_refused_before_any_data(constraints, message):
    with pytest.raises(InputError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        Constraints(**constraints)


def test_tiers_file(tmp_path):
    path = tmp_path / "tiers.txt"
    path.write_text("# wave 1\nc, d\n\n  a,b \n")
    assert read_tiers(path) == (("c", "d"), ("a", "b"))
    path.write_text("c\nd,\n")
    with pytest.raises(InputError, match=f"tiers file {path} line 2 has an empty name"):
        read_tiers(path)
    path.write_text("# nothing\n\n")
    with pytest.raises(InputError, match="holds no tier"):
        read_tiers(path)
    with pytest.raises(InputError, match="does not exist"):
        read_tiers(tmp_path / "none.txt")
    path.write_bytes(b"\xff\xfe a")
    with pytest.raises(InputError, match="not UTF-8"):
        read_tiers(path)


def test_reveal_edges_takes_a_seeded_fraction():
    graph = np.triu(np.ones((6, 6), dtype=np.uint8), 1)  # 15 edges
    half = reveal_edges(graph, 0.4, np.random.default_rng(0))
    assert half.sum() == 6 and not (half & (graph == 0)).any()
    assert np.array_equal(half, reveal_edges(graph, 0.4, np.random.default_rng(0)))
    assert np.array_equal(reveal_edges(graph, 1.0, np.random.default_rng(1)), graph == 1)
    assert not reveal_edges(graph, 0.0, np.random.default_rng(1)).any()
    # A cyclic truth (0->1->...->4->0 and shortcuts): an acyclic subset to which no skipped edge can be added.
    cyclic = np.roll(np.eye(5, dtype=np.uint8), 1, axis=1) | np.eye(5, k=2, dtype=np.uint8)
    for seed in range(5):
        revealed = reveal_edges(cyclic, 1.0, np.random.default_rng(seed))
        require = [f"{NAMES[i]}<{NAMES[j]}" for i, j in zip(*np.nonzero(revealed))]
        precede_matrix(Constraints(require=require), NAMES)
        assert not (revealed & (cyclic == 0)).any()
        for i, j in zip(*np.nonzero(cyclic & ~revealed)):
            with pytest.raises(InputError, match="contradictory"):
                precede_matrix(Constraints(require=[*require, f"{NAMES[i]}<{NAMES[j]}"]), NAMES)


# --- decoding honours the constraints on random graphs, greedy and beam -----------------------

MODELS = {}


def model_for(decoder):
    if decoder not in MODELS:
        torch.manual_seed(0)
        MODELS[decoder] = OrderModel(ModelConfig(dim=32, heads=4, enc_layers=1, dec_layers=2, decoder=decoder)).eval()
    return MODELS[decoder]


@st.composite
def constrained_graphs(draw):
    """A random DAG over d variables, written as constraints of every form (a random share of
    its edges as require, tiers and first/last cut from one of its topological orders)."""
    d = draw(st.integers(2, 9))
    perm = draw(st.permutations(range(d)))
    names = [f"v{i}" for i in range(d)]
    edges = [(perm[i], perm[j]) for i in range(d) for j in range(i + 1, d) if draw(st.booleans())]
    require = [f"{names[a]}<{names[b]}" for a, b in edges if draw(st.booleans())]
    cuts = sorted(draw(st.sets(st.integers(1, d - 1), max_size=3)))
    segments = [perm[s:e] for s, e in zip([0, *cuts], [*cuts, d])]
    tiers = [[names[i] for i in seg] for seg in segments if draw(st.booleans())] if len(segments) > 1 else []
    first = [names[perm[0]]] if draw(st.booleans()) else []
    last = [names[perm[-1]]] if d > 2 and draw(st.booleans()) else []
    return names, Constraints(require=require, tiers=tiers, first=first, last=last)


@settings(max_examples=40, deadline=None)
@given(case=constrained_graphs(), beam=st.sampled_from([1, 3]), decoder=st.sampled_from(["causal", "sort"]),
       seed=st.integers(0, 2**16))
def test_every_decoded_order_honours_the_constraints(case, beam, decoder, seed):
    names, constraints = case
    precede = precede_matrix(constraints, names)
    state = 3 * torch.randn(2, len(names), 32, generator=torch.Generator().manual_seed(seed))
    orders, confidence = model_for(decoder).decode(state, beam=beam, precede=torch.from_numpy(precede))
    for order in orders.numpy():
        assert sorted(order) == list(range(len(names)))
        position = np.argsort(order)
        assert all(position[i] < position[j] for i, j in zip(*np.nonzero(precede)))
    assert ((confidence > 0) & (confidence <= 1 + 1e-6)).all()


# --- amort predict ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    cfg = load_config("tiny", {"data.chunk_size": 20})
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt"), "best", OrderModel(cfg.model), cfg, step=0)


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.uniform(-1, 1, (60, 5)).cumsum(axis=1), columns=NAMES)
    path = tmp_path_factory.mktemp("data") / "data.csv"
    frame.to_csv(path, index=False)
    return path


def test_predict_honours_every_form(tmp_path, ckpt, csv_file):
    tiers = tmp_path / "tiers.txt"
    tiers.write_text("d\nc, b\n")
    out = tmp_path / "order.json"
    result = runner.invoke(app, ["predict", str(csv_file), "--model", str(ckpt), "--require", "b<c",
                                 "--tiers", str(tiers), "--first", "e", "--last", "a", "--out", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["order"] == ["e", "d", "b", "c", "a"]
    assert payload["constraints"] == {"require": ["b<c"], "tiers": [["d"], ["c", "b"]], "first": ["e"], "last": ["a"]}


@pytest.mark.parametrize("args, message", [
    (["--require", "a<q"], "require a<q: unknown variable 'q'; the variables are a, b, c, d, e"),
    (["--require", "a-b"], "require 'a-b': expected A<B (A comes before B)"),
    (["--require", "a<b", "--require", "b<a"], "contradictory constraints: require b<a conflicts with require a<b"),
    (["--first", "c", "--last", "c"], "contradictory constraints: last c (so a<c) conflicts with first c (so c<a)"),
    (["--tiers", "TIERS", "--require", "b<a"],
     "contradictory constraints: require b<a conflicts with tiers (a in tier 1, b in tier 2)"),
    (["--tiers", "BAD"], "line 2 has an empty name (a stray comma?): 'b,'"),
    (["--tiers", "MISSING"], "does not exist"),
])
def test_predict_refusals_exit_2_with_one_line(tmp_path, ckpt, csv_file, args, message):
    (tmp_path / "tiers.txt").write_text("a\nb\n")
    (tmp_path / "bad.txt").write_text("a\nb,\n")
    files = {"TIERS": tmp_path / "tiers.txt", "BAD": tmp_path / "bad.txt", "MISSING": tmp_path / "none.txt"}
    args = [str(files.get(a, a)) for a in args]
    result = runner.invoke(app, ["predict", str(csv_file), "--model", str(ckpt), *args])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"error: {message}" in text or message in text
    assert "Traceback" not in result.output


# --- amort eval --reveal ----------------------------------------------------------------------

def test_eval_reveal_all_edges_reverses_none(tmp_path, ckpt):
    plan = SuitePlan(load_spec("test-in"), num_datasets=3, n=60, d_min=4, d_max=6, seed=5)
    for _ in write_suite(plan, tmp_path / "suite"):
        pass
    common = ["eval", "--model", f"tiny={ckpt}", "--data", str(tmp_path / "suite"), "--baselines", "random"]
    result = runner.invoke(app, [*common, "--reveal", "1.0", "--out", str(tmp_path / "all")])
    assert result.exit_code == 0, result.output
    results = pd.read_csv(tmp_path / "all" / "results.csv")
    model = results[results["kind"] == "model"]
    assert set(model["method"]) == {"tiny+reveal1"} and len(model) == 3
    assert (model["frac_reversed"] == 0).all() and (model["edges"] > 0).all()
    curves = pd.read_csv(tmp_path / "all" / "curves.csv")
    assert (curves.loc[curves["kind"] == "model", "frac_reversed"] == 0).all()
    assert json.loads((tmp_path / "all" / "eval.json").read_text())["options"]["reveal"] == 1.0
    refused = runner.invoke(app, [*common, "--reveal", "1.5", "--out", str(tmp_path / "bad")])
    assert refused.exit_code == 2 and "Traceback" not in refused.output

    # A truth with a 2-cycle: no order honours it all, so the edges that would close a cycle
    # are not revealed, and the evaluation goes on.
    cyclic = tmp_path / "cyclic"
    for ds in iter_datasets(tmp_path / "suite"):
        write_csv_dataset(cyclic, ds)
        edges = cyclic / f"{ds.name}.edges.csv"
        cause, effect = edges.read_text().splitlines()[1].split(",")
        edges.write_text(edges.read_text() + f"{effect},{cause}\n")
    result = runner.invoke(app, ["eval", "--model", f"tiny={ckpt}", "--data", str(cyclic), "--baselines", "",
                                 "--reveal", "1", "--out", str(tmp_path / "cyclic-out")])
    assert result.exit_code == 0, result.output
    results = pd.read_csv(tmp_path / "cyclic-out" / "results.csv")
    assert (results["status"] == "ok").all() and (results["frac_reversed"] >= results["frac_reversed_min"]).all()

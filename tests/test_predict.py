"""`amort predict` on a user's CSV: the order, the JSON, the DAG, and every bad input -> exit 2."""
import gc
import gzip
import json
import threading

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from causal_amort.model.checkpoint import save_checkpoint
from causal_amort.config import load_config
from causal_amort.model.order_model import OrderModel
from causal_amort.inference.api import load_model
from causal_amort.inference.predict import Reservoir, predict_csv, read_ahead
from simulators.core.errors import InputError
from cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    cfg = load_config("tiny", {"data.chunk_size": 20})
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt"), "best", OrderModel(cfg.model), cfg, step=0)


def _csv(path, n=75, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, n)
    b = 2 * a + 0.3 * rng.uniform(-1, 1, n)
    c = np.tanh(b) - a + 0.3 * rng.uniform(-1, 1, n)
    path.write_text("alpha,beta,gamma\n" + "\n".join(f"{x:.5f},{y:.5f},{z:.5f}" for x, y, z in zip(a, b, c)) + "\n")
    return path


def test_prints_order_and_writes_json_and_dag(tmp_path, ckpt):
    data = _csv(tmp_path / "data.csv")
    out = tmp_path / "order.json"
    result = runner.invoke(app, ["predict", str(data), "--model", str(ckpt), "--out", str(out), "--dag"])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert sorted(payload["order"]) == ["alpha", "beta", "gamma"]
    assert len(payload["confidence"]) == 3 and all(0 <= c <= 1 for c in payload["confidence"])
    assert payload["rows"] == 75
    position = {name: i for i, name in enumerate(payload["order"])}
    assert all(position[c] < position[e] for c, e in payload["edges"])  # pruned DAG respects the order
    assert "cause,effect" in result.output
    # lasso's coefficients, as lingam's adjacency matrix holds them: least squares on each effect's parents
    rows = np.loadtxt(data, delimiter=",", skiprows=1)
    names = ["alpha", "beta", "gamma"]
    assert payload["edges"] and len(payload["coefficients"]) == len(payload["edges"])
    for effect in {e for _, e in payload["edges"]}:
        parents = [c for c, e in payload["edges"] if e == effect]
        design = np.c_[rows[:, [names.index(c) for c in parents]], np.ones(len(rows))]
        fit = np.linalg.lstsq(design, rows[:, names.index(effect)], rcond=None)[0]
        got = [w for (c, e), w in zip(payload["edges"], payload["coefficients"]) if e == effect]
        np.testing.assert_allclose(got, fit[:-1], rtol=1e-6)
    for name in payload["order"]:
        assert name in result.output


@pytest.mark.parametrize("text, needle", [
    ("a,b\n" + "1,2\n" * 3 + "x,3\n" + "4,5\n" * 30, "column 'a' is not numeric"),
    ("a,b\n" + "1,2\n3,4\n" * 10 + "5,\n" + "4,5\n" * 10, "--drop-missing"),
    ("a,b\n" + "1,2\n1,3\n" * 20, "column 'a' is constant"),
    ("a,a\n" + "1,2\n3,4\n" * 20, "duplicate column name 'a'"),
    ("a\n" + "1\n2\n" * 20, "at least 2 columns"),
    ("a,b\n1,2\n3,4\n", "needs at least 20"),
    ("", "empty"),
])
def test_bad_inputs_exit_2_with_one_line(tmp_path, ckpt, text, needle):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    result = runner.invoke(app, ["predict", str(path), "--model", str(ckpt)])
    assert result.exit_code == 2, result.output
    assert needle in result.output.replace("\n", " ")
    assert "Traceback" not in result.output


def test_missing_file_and_bad_model(tmp_path, ckpt):
    result = runner.invoke(app, ["predict", str(tmp_path / "none.csv"), "--model", str(ckpt)])
    assert result.exit_code == 2 and "no such file" in result.output
    data = _csv(tmp_path / "data.csv")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    result = runner.invoke(app, ["predict", str(data), "--model", str(broken)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_drop_missing_recovers(tmp_path, ckpt):
    path = tmp_path / "gappy.csv"
    _csv(path)
    lines = path.read_text().splitlines()
    lines[5] = "nan,1,2"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["predict", str(path), "--model", str(ckpt), "--drop-missing"])
    assert result.exit_code == 0, result.output
    assert "1 dropped" in result.output


def test_reservoir_is_uniform_and_bounded():
    counts = np.zeros(100)
    for trial in range(300):
        res = Reservoir(10, np.random.default_rng(trial))
        for start in range(0, 100, 7):
            res.add(np.arange(start, min(start + 7, 100), dtype=float)[:, None])
        assert res.rows.shape == (10, 1) and len(np.unique(res.rows)) == 10
        counts[res.rows[:, 0].astype(int)] += 1
    # each row is kept with probability 10/100: 30 expected out of 300 trials
    assert counts.min() > 10 and counts.max() < 55


def _respelled(path, sep=",", header=True, bom=False, gz=False, decimal=".", index=False):
    """The file of `_csv`, saved as a spreadsheet or a shell script would have saved it (``index``:
    with a first column of row labels, as pandas' to_csv writes it)."""
    lines = _csv(path).read_text().splitlines()
    lines = [(f"s{i}," if i else ",") * index + line for i, line in enumerate(lines)][(0 if header else 1):]
    lines = [line.replace(",", sep).replace(".", decimal) for line in lines]
    data = (("\ufeff" if bom else "") + "\n".join(lines) + "\n").encode("utf-8")
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kw, args, names", [
    ({"bom": True}, [], ["alpha", "beta", "gamma"]),
    ({"sep": ";", "bom": True}, [], ["alpha", "beta", "gamma"]),
    ({"sep": "\t", "gz": True}, [], ["alpha", "beta", "gamma"]),
    ({"header": False}, ["--no-header"], ["X0", "X1", "X2"]),
    ({"sep": "|", "header": False, "gz": True}, ["--no-header", "--sep", "|"], ["X0", "X1", "X2"]),
    ({"sep": ";", "decimal": ","}, ["--decimal", ","], ["alpha", "beta", "gamma"]),  # European spreadsheets
    ({"sep": "\t", "decimal": ",", "header": False}, ["--decimal", ",", "--no-header"], ["X0", "X1", "X2"]),
    ({"index": True}, ["--index-col"], ["alpha", "beta", "gamma"]),
    ({"index": True, "sep": ";", "header": False}, ["--index-col", "--no-header"], ["X0", "X1", "X2"]),
])
def test_files_as_people_have_them(tmp_path, ckpt, kw, args, names):
    data = _respelled(tmp_path / "data.csv", **kw)
    out = tmp_path / "order.json"
    result = runner.invoke(app, ["predict", str(data), "--model", str(ckpt), "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert sorted(payload["order"]) == names and payload["rows"] == 75
    assert "reading" not in result.output  # no progress bar when the output is not a terminal


@pytest.mark.parametrize("kw, args, needle", [
    ({"header": False}, [], "is all numbers, not column names; if the file has no header row, pass --no-header"),
    ({"sep": "|"}, [], "found 1 with the comma (',') delimiter; --sep sets another"),
    ({}, ["--sep", "tabs"], "--sep must be one character (or 'tab'), got 'tabs'"),
    ({}, ["--no-header"], "column 'X0' is not numeric: 'alpha' on line 1"),
    ({"sep": ";", "decimal": ","}, [], "(a decimal comma? --decimal ',' reads 1,5 as 1.5)"),
    ({}, ["--decimal", ",", "--sep", ","], "--sep and --decimal cannot both be ','"),
    ({}, ["--decimal", ";"], "--decimal must be '.' or ',', got ';'"),
    ({"index": True}, [], "empty column name in the header (row labels, as pandas' to_csv writes its index? "
                          "--index-col skips the first column)"),
])
def test_wrong_shape_of_file_exits_2_with_one_line(tmp_path, ckpt, kw, args, needle):
    data = _respelled(tmp_path / "data.csv", **kw)
    result = runner.invoke(app, ["predict", str(data), "--model", str(ckpt), *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output.replace("\n", " ") and "Traceback" not in result.output


def test_damaged_gzip_exits_2(tmp_path, ckpt):
    path = _respelled(tmp_path / "data.csv", gz=True)
    path.write_bytes(path.read_bytes()[:-30])
    result = runner.invoke(app, ["predict", str(path), "--model", str(ckpt)])
    assert result.exit_code == 2 and "cannot read" in result.output and "Traceback" not in result.output


def test_progress_on_a_terminal(tmp_path, ckpt, monkeypatch):
    monkeypatch.setattr("cli.progress.on_terminal", lambda: True)
    data = _respelled(tmp_path / "data.csv", gz=True)
    result = runner.invoke(app, ["predict", str(data), "--model", str(ckpt)])
    assert result.exit_code == 0, result.output
    size = data.stat().st_size
    assert "reading data.csv.gz" in result.output and "75 rows" in result.output
    assert f"{size}/{size} bytes" in result.output  # the compressed file, read to the end


def _read_ahead_threads():
    return [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_read_ahead_yields_everything_in_order_and_raises_where_the_source_failed():
    assert list(read_ahead(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield from (1, 2, 3)
        raise InputError("line 4 is bad")

    got = []
    with pytest.raises(InputError, match="line 4 is bad"):
        for item in read_ahead(failing(), depth=1):
            got.append(item)
    assert got == [1, 2, 3] and not _read_ahead_threads()


def test_read_ahead_stopped_early_closes_its_source_and_thread():
    closed = threading.Event()

    def endless():
        try:
            while True:
                yield 0
        finally:
            closed.set()

    stream = read_ahead(endless(), depth=2)
    assert next(stream) == 0
    stream.close()  # what an error in the consumer, or dropping the iterator, does
    assert closed.is_set() and not _read_ahead_threads()


def test_read_ahead_gives_the_same_prediction_and_the_same_errors(tmp_path, ckpt):
    model = load_model(ckpt, device="cpu")
    data = _csv(tmp_path / "data.csv", n=203)
    plain = predict_csv(data, model, dag=True)
    ahead = predict_csv(data, model, dag=True, read_ahead_blocks=2)
    assert (ahead.order, ahead.rows, ahead.edges) == (plain.order, plain.rows, plain.edges)
    np.testing.assert_allclose(ahead.confidence, plain.confidence)
    bad = tmp_path / "bad.csv"
    bad.write_text(data.read_text() + "1.0,oops,2.0\n")
    with pytest.raises(InputError, match="not numeric"):
        predict_csv(bad, model, read_ahead_blocks=2)
    assert not _read_ahead_threads()


def test_an_error_in_the_model_stops_the_read_ahead_at_once(tmp_path, ckpt, monkeypatch):
    model = load_model(ckpt, device="cpu")
    data = _csv(tmp_path / "data.csv", n=203)

    def failing_order(chunks, *args, **kwargs):
        next(iter(chunks))
        raise RuntimeError("the model failed")

    monkeypatch.setattr(model, "order", failing_order)
    gc.disable()  # no collection may close the generators behind the test's back
    try:
        with pytest.raises(RuntimeError, match="the model failed") as raised:
            predict_csv(data, model, read_ahead_blocks=1)
        running = _read_ahead_threads()  # while the traceback still holds every frame
    finally:
        gc.enable()
    assert raised.value and not running


def test_a_mask_file_is_streamed_beside_the_data_and_a_bad_one_is_refused(tmp_path, ckpt):
    data = _csv(tmp_path / "data.csv")
    mask = np.zeros((75, 3), dtype=int)
    mask[::3, 0] = 1  # every third row: alpha set by an intervention
    header = "alpha,beta,gamma\n"
    (tmp_path / "data.mask.csv").write_text(header + "\n".join(",".join(map(str, r)) for r in mask) + "\n")
    out = tmp_path / "order.json"
    result = runner.invoke(app, ["predict", str(data), "--model", str(ckpt), "--mask", str(tmp_path / "data.mask.csv"),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    x = np.loadtxt(data, delimiter=",", skiprows=1, dtype=np.float32)
    expected = load_model(ckpt, "cpu").order(x, ["alpha", "beta", "gamma"], mask=mask)
    assert payload["order"] == expected.order and payload["mask"].endswith("data.mask.csv")
    assert payload["intervened_rows"] == 25 and "75 rows, 25 with an intervention" in result.output
    bad = {"names.mask.csv": "a,b,c\n" + "0,0,0\n" * 75, "short.mask.csv": header + "0,0,0\n" * 74,
           "two.mask.csv": header + "2,0,0\n" + "0,0,0\n" * 74}
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        refused = runner.invoke(app, ["predict", str(data), "--model", str(ckpt), "--mask", str(tmp_path / name),
                                      "--out", str(out)])
        assert refused.exit_code == 2 and "Traceback" not in refused.output, (name, refused.output)
        assert {"names.mask.csv": "header must be the data's", "short.mask.csv": "does not match the data",
                "two.mask.csv": "only 0 and 1"}[name] in refused.output
        assert json.loads(out.read_text()) == payload  # the earlier output is left as it was
    both = runner.invoke(app, ["predict", str(data), "--model", str(ckpt), "--mask", str(tmp_path / "data.mask.csv"),
                               "--drop-missing"])
    assert both.exit_code == 2 and "--drop-missing" in both.output


def test_data_too_wide_for_the_memory_is_refused_before_any_work(tmp_path, ckpt, monkeypatch):
    """The model's peak memory grows as d^2 (`model.cost`): data it cannot order in the memory this
    process may use get one line and exit 2, not an out-of-memory kill; nothing is written."""
    from causal_amort.model.cost import model_cost
    from simulators.core import resources

    data, out = _csv(tmp_path / "data.csv"), tmp_path / "order.json"
    monkeypatch.setattr(resources, "available_memory", lambda: 1000)
    result = runner.invoke(app, ["predict", str(data), "--model", str(ckpt), "--out", str(out)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "ordering (1 dataset of 3 variables) needs about" in result.stderr and "fewer variables" in result.stderr
    assert not out.exists()
    # A batch of datasets needs the memory of each at once: room for one dataset is not room for two.
    model = load_model(ckpt, device="cpu")
    _, one = model_cost(model.config.model, 3, 0)
    monkeypatch.setattr(resources, "available_memory", lambda: int(1.5 * one))
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    assert len(model.order(x).order) == 3 and len(model.order_many([x, x], batch_size=1)) == 2
    with pytest.raises(InputError, match=r"2 datasets of 3 variables.*fewer datasets at once \(batch_size\)"):
        model.order_many([x, x], batch_size=2)


def test_a_long_order_is_announced_before_the_file_is_read(tmp_path, ckpt, monkeypatch):
    """Many variables take long after the reading (the model's cost, `AmortModel.estimate`): predict
    says so on stderr first, as simulate and eval do; a quick one says nothing."""
    from causal_amort.inference import api

    data = _csv(tmp_path / "data.csv")
    quick = runner.invoke(app, ["predict", str(data), "--model", str(ckpt)])
    assert quick.exit_code == 0 and "once read" not in quick.stderr
    monkeypatch.setattr(api, "model_cost", lambda *args, **kwargs: (100.0, 1000))
    slow = runner.invoke(app, ["predict", str(data), "--model", str(ckpt)])
    assert slow.exit_code == 0, slow.output
    assert "ordering data.csv once read: 1 dataset of 3 variables" in slow.stderr and "estimated" in slow.stderr
    assert "alpha" in slow.stdout  # and then the order, as always


def test_bootstrap_prints_each_positions_support_and_each_edges_and_writes_them(tmp_path, ckpt):
    """--bootstrap N orders N row resamples of the whole file, as `AmortizedOrder.bootstrap` does the
    same rows with the same seed: the share that puts each variable before the next, and with --dag
    the share of resamples whose DAG has each edge."""
    import causal_amort
    from causal_amort.inference.predict import bootstrap_csv

    data, out = _csv(tmp_path / "data.csv"), tmp_path / "order.json"
    result = runner.invoke(app, ["predict", str(data), "--model", str(ckpt), "--out", str(out), "--dag",
                                 "--bootstrap", "6", "--seed", "2"])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    model = load_model(ckpt, device="cpu")
    x = np.loadtxt(data, delimiter=",", skiprows=1, dtype=np.float32)
    same = causal_amort.AmortizedOrder(model).bootstrap(x, 6, seed=2)
    assert (bootstrap_csv(data, model, 6, prune="lasso", seed=2).orders_ == same.orders_).all()
    precede, names = np.array(payload["bootstrap"]["precedence"]), ["alpha", "beta", "gamma"]
    assert payload["bootstrap"]["resamples"] == 6 and np.allclose(precede, same.get_precedence_probabilities(), atol=1e-4)
    first, second = (names.index(v) for v in payload["order"][:2])
    assert "support" in result.output and f"{precede[first, second]:.2f}" in result.output
    shares = payload["bootstrap"]["edge_support"]
    assert len(shares) == len(payload["edges"]) and "cause,effect,support" in result.output
    for (cause, effect), share in zip(payload["edges"], shares):
        assert share == same.get_probabilities()[names.index(effect), names.index(cause)]


def test_a_bootstrap_that_would_not_fit_in_memory_is_refused_before_the_file_is_read(tmp_path, ckpt, monkeypatch):
    from simulators.core import resources

    data = _csv(tmp_path / "data.csv", n=1500)
    monkeypatch.setattr(resources, "available_memory", lambda: 10 * data.stat().st_size)
    assert runner.invoke(app, ["predict", str(data), "--model", str(ckpt)]).exit_code == 0  # the order alone fits
    result = runner.invoke(app, ["predict", str(data), "--model", str(ckpt), "--bootstrap", "4"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "bootstrapping (4 resamples of data.csv) needs about" in result.stderr


def test_columns_with_few_distinct_values_are_named_in_a_note_and_the_json(tmp_path, ckpt):
    rng = np.random.default_rng(3)
    a = rng.normal(size=200)
    flag = (rng.random(200) < 0.3).astype(int)
    data, out = tmp_path / "mixed.csv", tmp_path / "order.json"
    np.savetxt(data, np.c_[a, flag, 2 * a + flag + rng.normal(size=200)], delimiter=",", fmt="%.6g",
               header="a,flag,b", comments="")
    result = runner.invoke(app, ["predict", str(data), "--model", str(ckpt), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "note: flag takes at most 10 distinct values" in result.stderr and "Limits: discretized data" in result.stderr
    assert json.loads(out.read_text())["few_values"] == ["flag"]
    plain = runner.invoke(app, ["predict", str(_csv(tmp_path / "data.csv")), "--model", str(ckpt)])
    assert plain.exit_code == 0 and "note:" not in plain.stderr
    assert "spreads" not in result.stderr  # this model reads such columns as they are
    cfg = load_config("tiny", {"data.chunk_size": 20, "model.dequantize_levels": 5})
    spreading = save_checkpoint(tmp_path / "spreading", "best", OrderModel(cfg.model), cfg, step=0)
    spread = runner.invoke(app, ["predict", str(data), "--model", str(spreading)])
    assert spread.exit_code == 0 and "it spreads those of at most 5 values over their bins" in spread.stderr


def test_columns_that_copy_each_other_are_named_in_a_note_and_the_json(tmp_path, ckpt):
    rng = np.random.default_rng(4)
    a = rng.normal(size=200)
    b = 2 * a + rng.normal(size=200)
    data, out = tmp_path / "copies.csv", tmp_path / "order.json"
    # `shuffled` has a's values in another order: the same distribution, not a copy
    np.savetxt(data, np.c_[a, b, 1 - 3 * a, b / 10 + 7, rng.permutation(a)], delimiter=",", fmt="%.9g",
               header="a,b,a2,b2,shuffled", comments="")
    result = runner.invoke(app, ["predict", str(data), "--model", str(ckpt), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "note: a and a2 are exact copies of each other" in result.stderr
    assert "note: b and b2 are exact copies of each other" in result.stderr
    assert json.loads(out.read_text())["copies"] == [["a", "a2"], ["b", "b2"]]
    plain = runner.invoke(app, ["predict", str(_csv(tmp_path / "data.csv")), "--model", str(ckpt), "--out", str(out)])
    assert plain.exit_code == 0 and "note:" not in plain.stderr and "copies" not in json.loads(out.read_text())

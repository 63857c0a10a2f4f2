"""`amort predict` on a user's CSV: the order, the JSON, the DAG, and every bad input -> exit 2."""
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from causal_amort.checkpoint import save_checkpoint
from causal_amort.config import load_config
from causal_amort.model import OrderModel
from causal_amort.predict import Reservoir
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

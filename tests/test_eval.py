"""`amort eval` end to end on tiny data: suites and CSV folders, tables, sharding and merge."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from causal_amort.model.checkpoint import save_checkpoint
from causal_amort.config import load_config
from causal_amort.evaluation.evaluate import curve_chunk_counts, parse_model_ref
from causal_amort.model.order_model import OrderModel
from cli.app import app
from simulators.core.dataset import Dataset
from simulators.storage.io import iter_datasets
from simulators.storage.suite import SuitePlan, write_suite
from simulators.prior.spec import load_spec

runner = CliRunner()


@pytest.fixture(scope="module")
def workspace(small_suite):
    root = small_suite
    cfg = load_config("tiny", {"data.chunk_size": 40})
    torch.manual_seed(0)
    model = OrderModel(cfg.model)
    ckpt = save_checkpoint(root / "ckpt", "best", model, cfg, step=0)
    return root, ckpt


def _eval(args):
    result = runner.invoke(app, ["eval", *args])
    assert result.exit_code == 0, result.output
    return result


def test_suite_and_csv_folder_end_to_end(workspace):
    root, ckpt = workspace
    out = root / "out-all"
    _eval(["--model", f"tiny={ckpt}", "--data", str(root / "suite"), str(root / "csvs"),
           "--baselines", "random,varsort,r2sort", "--out", str(out)])
    results = pd.read_csv(out / "results.csv")
    assert len(results) == (5 + 2) * 4
    assert set(results["suite"]) == {"suite", "csvs"}
    assert (results["status"] == "ok").all()
    ok = results.dropna(subset=["frac_reversed"])
    assert ((ok["frac_reversed"] >= 0) & (ok["frac_reversed"] <= 1)).all()
    assert np.allclose(ok["frac_reversed"], ok["d_top"] / ok["edges"])
    orders = [json.loads(line) for line in (out / "orders.jsonl").read_text().splitlines()]
    assert len(orders) == len(results)
    assert set(orders[0]) == {"suite", "dataset", "method", "order"}
    curves = pd.read_csv(out / "curves.csv")
    model_curve = curves[curves["method"] == "tiny"]
    assert model_curve.groupby("dataset")["n_seen"].max().eq(120).all()  # 3 chunks of 40 rows
    assert "**" in (out / "summary.md").read_text()
    assert r"\begin{tabular}" in (out / "summary.tex").read_text()
    assert (out / "curves.png").stat().st_size > 1000


def test_shards_merge_to_the_unsharded_run(workspace):
    root, ckpt = workspace
    common = ["--model", f"tiny={ckpt}", "--data", str(root / "suite"), "--baselines", "random,r2sort,lingam"]
    _eval([*common, "--out", str(root / "whole")])
    for i in range(2):
        _eval([*common, "--num-shards", "2", "--shard-index", str(i), "--out", str(root / f"shard-{i}")])
    _eval(["--merge", str(root / "shard-0"), "--merge", str(root / "shard-1"), "--out", str(root / "merged")])
    timing = ["seconds", "peak_mb"]
    whole = pd.read_csv(root / "whole" / "results.csv").drop(columns=timing)
    merged = pd.read_csv(root / "merged" / "results.csv").drop(columns=timing)
    pd.testing.assert_frame_equal(whole, merged)
    assert (root / "whole" / "orders.jsonl").read_text() == (root / "merged" / "orders.jsonl").read_text()
    pd.testing.assert_frame_equal(pd.read_csv(root / "whole" / "curves.csv"),
                                  pd.read_csv(root / "merged" / "curves.csv"))


def test_refuses_to_overwrite_and_bad_inputs(workspace):
    root, ckpt = workspace
    out = root / "out-refuse"
    _eval(["--model", "none", "--data", str(root / "csvs"), "--out", str(out)])
    for args, needle in [
        (["--model", "none", "--data", str(root / "csvs"), "--out", str(out)], "use --force"),
        (["--model", "none", "--data", str(root / "csvs"), "--baselines", "magic", "--out", str(root / "o2")],
         "unknown baseline 'magic'"),
        (["--model", "none", "--data", str(root / "nothing"), "--out", str(root / "o3")], "nothing"),
        (["--model", str(root / "missing.safetensors"), "--data", str(root / "csvs"), "--out", str(root / "o4")], ""),
        (["--merge", str(root / "csvs"), "--out", str(root / "o5")], "not an evaluation folder"),
    ]:
        result = runner.invoke(app, ["eval", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.output and "Traceback" not in result.output
        assert needle in result.output.replace("\n", " ")


def test_curve_points_and_model_labels():
    assert curve_chunk_counts(1, 12) == [1]
    counts = curve_chunk_counts(100, 12)
    assert counts[0] == 1 and counts[-1] == 100 and len(counts) <= 12
    assert parse_model_ref("default").label == "amort"
    assert parse_model_ref("sort=runs/x").label == "sort"
    assert parse_model_ref("runs/abl-none/").label == "amort:abl-none"


def test_beam_search_is_evaluated_as_its_own_method(workspace, tmp_path):
    """`--beam K` decodes every model order with a beam of width K (what the Python API gives for the
    same rows), labels it +beamK and records the width; a width below 1 is refused."""
    from causal_amort.inference.api import load_model

    root, ckpt = workspace
    common = ["--model", f"tiny={ckpt}", "--data", str(root / "suite"), "--baselines", ""]
    _eval([*common, "--beam", "4", "--out", str(tmp_path / "beam")])
    results = pd.read_csv(tmp_path / "beam" / "results.csv")
    assert set(results["method"]) == {"tiny+beam4"} and len(results) == 5
    assert json.loads((tmp_path / "beam" / "eval.json").read_text())["options"]["beam"] == 4
    orders = [json.loads(line) for line in (tmp_path / "beam" / "orders.jsonl").read_text().splitlines()]
    model = load_model(str(ckpt), device="cpu")
    greedy_differs = False
    for dataset, row in zip(iter_datasets(root / "suite"), orders):
        assert row["order"] == model.order(dataset.x, dataset.names, beam=4).order
        greedy_differs |= row["order"] != model.order(dataset.x, dataset.names).order
    assert greedy_differs  # so the check above tells a beam from greedy decoding
    refused = runner.invoke(app, ["eval", *common, "--beam", "0", "--out", str(tmp_path / "bad")])
    assert refused.exit_code == 2 and "Traceback" not in refused.output and not (tmp_path / "bad").exists()


def test_workers_give_the_same_results(workspace):
    root, ckpt = workspace
    common = ["--model", f"tiny={ckpt}", "--data", str(root / "csvs"), "--baselines", "random,varsort,score"]
    _eval([*common, "--out", str(root / "w1")])
    _eval([*common, "--workers", "2", "--out", str(root / "w2")])
    timing = ["seconds", "peak_mb"]
    pd.testing.assert_frame_equal(pd.read_csv(root / "w1" / "results.csv").drop(columns=timing),
                                  pd.read_csv(root / "w2" / "results.csv").drop(columns=timing))


def test_breakdown_by_family_matches_the_results(workspace):
    """scripts/breakdown.py: per-family means that add back up to the suite's mean."""
    root, _ = workspace
    out = root / "out-breakdown"
    _eval(["--model", "none", "--data", str(root / "suite"), "--baselines", "random,r2sort", "--out", str(out)])
    script = Path(__file__).resolve().parent.parent / "scripts" / "breakdown.py"
    sys.path.insert(0, str(script.parent))
    try:
        from breakdown import breakdown
    finally:
        sys.path.remove(str(script.parent))
    results = pd.read_csv(out / "results.csv")
    table = breakdown(results, {"suite": root / "suite"}, "noise", ["random", "r2sort"])
    assert table["datasets"].sum() == 5
    weighted = (table["r2sort"] * table["datasets"]).sum() / 5
    assert weighted == pytest.approx(results[results.method == "r2sort"]["frac_reversed"].mean())
    proc = subprocess.run([sys.executable, str(script), str(out), str(root / "suite"), "--methods", "random", "r2sort"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "by noise family" in proc.stdout and "by graph family" in proc.stdout


def test_merge_evaluations_over_different_data_lists(workspace):
    """Baselines on one folder, the model later on two: merged, every dataset keeps one index."""
    root, ckpt = workspace
    _eval(["--model", "none", "--data", str(root / "csvs"), "--baselines", "random", "--out", str(root / "base")])
    _eval(["--model", f"tiny={ckpt}", "--data", str(root / "suite"), str(root / "csvs"), "--baselines", "",
           "--out", str(root / "models")])
    _eval(["--merge", str(root / "base"), "--merge", str(root / "models"), "--out", str(root / "both")])
    results = pd.read_csv(root / "both" / "results.csv")
    assert len(results) == 2 * 1 + 7 * 1
    per_dataset = results.groupby(["suite", "dataset"])["index"].nunique()
    assert (per_dataset == 1).all() and sorted(results["index"].unique()) == list(range(7))
    curves = pd.read_csv(root / "both" / "curves.csv")
    assert set(zip(curves["suite"], curves["dataset"], curves["index"])) <= set(
        zip(results["suite"], results["dataset"], results["index"]))
    again = runner.invoke(app, ["eval", "--merge", str(root / "both"), "--merge", str(root / "base"),
                                "--out", str(root / "twice")])
    assert again.exit_code == 2 and "overlap" in again.output


def _csv_folder(root, name, edges):
    """The two datasets of the workspace's CSV folder, with edges.csv files made by ``edges(names, graph)``."""
    folder = root / name
    folder.mkdir()
    for ds in iter_datasets(root / "csvs"):
        (folder / f"{ds.name}.csv").write_text((root / "csvs" / f"{ds.name}.csv").read_text())
        rows = edges(ds.names, ds.graph)
        if rows is not None:
            (folder / f"{ds.name}.edges.csv").write_text("cause,effect\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return folder


def test_data_without_truth_get_orders_timings_and_agreement(workspace):
    root, ckpt = workspace
    data = _csv_folder(root, "no-truth", lambda names, graph: None)
    out = root / "out-no-truth"
    result = _eval(["--model", f"tiny={ckpt}", "--data", str(data), "--out", str(out)])
    assert "Traceback" not in result.output and "no true graph" in result.stdout
    assert "frac_reversed" not in result.stdout and "perfect" not in result.stdout
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 2 * 4 and (results["status"] == "ok").all() and results["seconds"].notna().all()
    assert results[["edges", "frac_reversed", "frac_reversed_min", "perfect", "shd", "f1"]].isna().all().all()
    summary = (out / "summary.md").read_text()
    assert "## seconds" in summary and "## frac_reversed" not in summary and "## shd" not in summary
    assert "## agreement between methods" in summary
    agreement = pd.read_csv(out / "agreement.csv")
    assert len(agreement) == 4 * 3 // 2 and agreement["count"].eq(2).all()
    assert agreement["mean"].between(0, 1).all()
    assert len((out / "orders.jsonl").read_text().splitlines()) == 2 * 4


def test_cyclic_truth_is_scored_with_a_warning_and_its_floor(workspace):
    root, ckpt = workspace

    def with_cycle(names, graph):
        causes, effects = np.nonzero(graph)
        rows = [(names[c], names[e]) for c, e in zip(causes, effects)]
        return rows + [rows[0][::-1]]  # one edge also the other way round: a 2-cycle

    data = _csv_folder(root, "cyclic", with_cycle)
    out = root / "out-cyclic"
    result = _eval(["--model", "none", "--data", str(data), "--baselines", "random,varsort", "--out", str(out)])
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "2 true graph(s) have a directed cycle" in warnings[0]
    assert "min possible" in result.stdout and "Traceback" not in result.output
    results = pd.read_csv(out / "results.csv")
    assert np.allclose(results["frac_reversed_min"], 1 / results["edges"])  # one edge of the 2-cycle
    assert results["frac_reversed_min_exact"].all() and (results["frac_reversed"] >= results["frac_reversed_min"]).all()
    assert np.allclose(results["frac_reversed"], results["d_top"] / results["edges"])  # scored as usual
    assert "directed cycle" in (out / "summary.md").read_text()

    train = runner.invoke(app, ["train", "--out", str(root / "run-cyclic"), "--data", str(data), "--steps", "1",
                                "--chunk-size", "20", "--device", "cpu"])
    assert train.exit_code == 2 and "directed cycle" in train.stderr and train.stderr.count("\n") == 1


def test_eval_that_cannot_fit_in_memory_is_refused(workspace, monkeypatch):
    from causal_amort.evaluation.costs import estimate_eval
    from causal_amort.evaluation.evaluate import EvalOptions, plan
    from simulators.core import resources

    root, ckpt = workspace
    monkeypatch.setattr(resources, "available_memory", lambda: 1000)
    result = runner.invoke(app, ["eval", "--model", "none", "--data", str(root / "csvs"), "--out", str(root / "o-mem")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "eval (2 datasets, d = " in result.stderr and "needs about" in result.stderr
    assert not (root / "o-mem" / "results.csv").exists()
    items = plan([root / "csvs"])
    small = estimate_eval(items, [], EvalOptions())
    wide = [(0, "s", Dataset("wide", np.zeros((1000, 300), np.float32), np.zeros((300, 300), np.uint8), []))]
    assert estimate_eval(wide, [], EvalOptions()).seconds > 100 * small.seconds  # pruning grows as d^3.5


def test_a_failing_curve_refit_leaves_a_nan_point_not_a_crash(monkeypatch):
    """A fast baseline that fails on few rows still gets its row (ok, on all rows) and a curve
    whose failed points are NaN; the evaluation goes on."""
    from causal_amort.evaluation import evaluate
    from causal_amort.baselines.base import Baseline

    def needs_many_rows(x, rng, device):
        if x.shape[0] < 300:
            raise np.linalg.LinAlgError("singular matrix")
        return np.arange(x.shape[1])

    monkeypatch.setitem(evaluate.BASELINES, "picky", Baseline("picky", needs_many_rows))
    rng = np.random.default_rng(0)
    graph = np.triu(np.ones((3, 3), dtype=np.uint8), k=1)
    dataset = Dataset("d0", rng.standard_normal((500, 3)).astype(np.float32), graph, ["a", "b", "c"], None)
    result = evaluate.evaluate_dataset(0, "s", dataset, [], evaluate.EvalOptions(baselines=("picky",)))
    assert [row["status"] for row in result.rows] == ["ok"]
    points = {c["n_seen"]: c["frac_reversed"] for c in result.curves}
    assert np.isnan(points[100]) and np.isfinite(points[300]) and np.isfinite(points[500])


def test_force_leaves_no_stale_plot(workspace):
    root, _ = workspace
    out = root / "stale"
    _eval(["--model", "none", "--data", str(root / "csvs"), "--baselines", "varsort", "--out", str(out)])
    assert (out / "curves.png").exists()
    result = _eval(["--model", "none", "--data", str(root / "csvs"), "--baselines", "random", "--out", str(out),
                    "--force"])
    assert not (out / "curves.png").exists() and "curves.png" not in result.output


@pytest.mark.parametrize("encoder", ["cells", "stats"])
def test_interventional_suites_pass_masks_and_say_so(tmp_path, encoder):
    plan = SuitePlan(load_spec("test-in"), num_datasets=2, n=120, d_min=4, d_max=4, seed=5, interventions=2)
    for _ in write_suite(plan, tmp_path / "suite"):
        pass
    cfg = load_config("tiny", {"data.chunk_size": 40, "model.encoder": encoder})
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "ckpt", "best", OrderModel(cfg.model), cfg, step=0)
    out = tmp_path / "out"
    _eval(["--model", f"m={ckpt}", "--data", str(tmp_path / "suite"), "--baselines", "random", "--out", str(out)])
    results = pd.read_csv(out / "results.csv")
    assert (results["intervened_rows"] > 0).all() and (results["intervened_rows"] < 120).all()
    assert "interventional data: 2 of 2 datasets" in (out / "summary.md").read_text()
    # --pool-masks: the models read every row as observational, as a copy of the data without masks reads
    pooled = tmp_path / "pooled"
    _eval(["--model", f"m={ckpt}", "--data", str(tmp_path / "suite"), "--baselines", "", "--pool-masks",
           "--out", str(pooled)])
    bare = tmp_path / "bare"
    bare.mkdir()
    for ds in iter_datasets(tmp_path / "suite"):
        pd.DataFrame(ds.x, columns=ds.names).to_csv(bare / f"{ds.name}.csv", index=False)
    _eval(["--model", f"m={ckpt}", "--data", str(bare), "--baselines", "", "--out", str(tmp_path / "bare-eval")])
    orders = [[json.loads(line)["order"] for line in open(folder / "orders.jsonl")] for folder in
              (pooled, tmp_path / "bare-eval")]
    labels = {json.loads(line)["method"] for line in open(pooled / "orders.jsonl")}
    assert labels == {"m+pooled"} and orders[0] == orders[1] and len(orders[0]) == 2


def test_summary_breaks_results_down_by_generating_family(workspace):
    root, _ = workspace
    out = root / "families"
    _eval(["--model", "none", "--data", str(root / "suite"), "--baselines", "random,varsort", "--out", str(out)])
    results = pd.read_csv(out / "results.csv")
    summary = (out / "summary.md").read_text()
    for factor in ("graph", "mechanism", "noise"):
        assert f"## frac_reversed by {factor} family" in summary
        families = results[f"{factor}_family"]
        assert families.notna().all() and (families != "").all()
        for family, block in results[results.method == "varsort"].groupby(f"{factor}_family"):
            row = next(line for line in summary.split(f"## frac_reversed by {factor} family")[1].splitlines()
                       if line.startswith(f"| suite | {family} |"))
            assert f"| {len(block)} |" in row and f"{block.frac_reversed.mean():.3f}" in row


def test_a_shard_plan_reads_only_its_own_datasets(tmp_path, monkeypatch):
    """Shard 1 of 3 of a suite stored one dataset per shard file decodes only its own files."""
    from causal_amort.evaluation import evaluate
    import simulators.storage.io as io

    plan_ = SuitePlan(load_spec("test-in"), num_datasets=7, n=4000, d_min=3, d_max=3, seed=2)
    monkeypatch.setattr(SuitePlan, "shard_size", property(lambda self: 1))
    for _ in write_suite(plan_, tmp_path / "suite"):
        pass
    read = []
    real = io.unpack_shard
    monkeypatch.setattr(io, "unpack_shard", lambda data, source: read.append(Path(source).name) or real(data, source))
    items = evaluate.plan([tmp_path / "suite"], num_shards=3, shard_index=1)
    assert [index for index, _, _ in items] == [1, 4]
    assert read == ["shard-00001.npz", "shard-00004.npz"]
    everything = evaluate.plan([tmp_path / "suite"])
    assert [ds.name for _, _, ds in items] == [everything[1][2].name, everything[4][2].name]


def test_library_evaluate_yields_progress_and_writes_the_tables(workspace, tmp_path):
    import causal_amort
    from causal_amort.evaluation.evaluate import Evaluated, Planned, Written

    root, ckpt = workspace
    evaluate = causal_amort.evaluate  # the public name
    events = list(evaluate([root / "csvs"], [f"tiny={ckpt}"], ["random", "varsort"], causal_amort.EvalOptions(),
                           tmp_path / "lib"))
    assert isinstance(events[0], Planned) and events[0].datasets == 2 and events[0].methods == 3
    assert [type(e) for e in events[1:]] == [Evaluated, Evaluated, Written]
    results = pd.read_csv(tmp_path / "lib" / "results.csv")
    assert sorted(set(results.method)) == ["random", "tiny", "varsort"] and len(results) == 6
    assert (tmp_path / "lib" / "summary.md").exists() and events[-1].curves_png
    with pytest.raises(causal_amort.InputError, match="already holds an evaluation"):
        next(evaluate([root / "csvs"], [], ["random"], causal_amort.EvalOptions(), tmp_path / "lib"))
    with pytest.raises(causal_amort.InputError, match="beam must be at least 1"):
        next(evaluate([root / "csvs"], [f"tiny={ckpt}"], [], causal_amort.EvalOptions(beam=0), tmp_path / "beam0"))
    assert not (tmp_path / "beam0").exists()  # refused before any folder is made


@pytest.mark.parametrize("failure", ["timeout", "error"])
def test_a_baseline_that_times_out_or_raises_keeps_its_row_with_a_status(monkeypatch, failure):
    """A slow baseline past its time limit, or one that raises, still gets its row: the status says
    why, the metrics are empty, no order is written, and the other methods are scored as usual."""
    import time

    from causal_amort.baselines.base import Baseline
    from causal_amort.evaluation import evaluate

    def stuck_or_broken(x, rng, device):
        if failure == "error":
            raise FloatingPointError("overflow in exp\nsecond line is dropped")
        time.sleep(5)
        return np.arange(x.shape[1])

    monkeypatch.setitem(evaluate.BASELINES, "flaky", Baseline("flaky", stuck_or_broken, slow=True))
    rng = np.random.default_rng(0)
    graph = np.triu(np.ones((3, 3), dtype=np.uint8), k=1)
    dataset = Dataset("d0", rng.standard_normal((200, 3)).astype(np.float32), graph, ["a", "b", "c"], None)
    options = evaluate.EvalOptions(baselines=("flaky", "random"), time_limit_s=0.2)
    result = evaluate.evaluate_dataset(0, "s", dataset, [], options)
    rows = {row["method"]: row for row in result.rows}
    expected = "timeout>0.2s" if failure == "timeout" else "error: FloatingPointError: overflow in exp"
    assert rows["flaky"]["status"] == expected
    assert np.isnan(rows["flaky"].get("frac_reversed", np.nan)) and np.isnan(rows["flaky"]["seconds"])
    assert rows["random"]["status"] == "ok" and np.isfinite(rows["random"]["frac_reversed"])
    assert [o["method"] for o in result.orders] == ["random"]


def test_intsort_reads_each_datasets_masks_and_reports_data_without_them(tmp_path):
    plan = SuitePlan(load_spec("test-in"), num_datasets=3, n=1500, d_min=6, d_max=6, seed=8, interventions=6)
    for _ in write_suite(plan, tmp_path / "suite"):
        pass
    out = tmp_path / "out"
    _eval(["--model", "none", "--data", str(tmp_path / "suite"), "--baselines", "random,intsort", "--out", str(out)])
    results = pd.read_csv(out / "results.csv").set_index("method")
    assert (results.loc["intsort", "status"] == "ok").all()
    assert results.loc["intsort", "frac_reversed"].mean() < 0.15 < results.loc["random", "frac_reversed"].mean()
    curves = pd.read_csv(out / "curves.csv")
    assert (curves["method"] == "intsort").any()  # refitted on row prefixes, masks cut alike
    bare = tmp_path / "bare"  # the same values without their masks: a status row, not a crash
    bare.mkdir()
    for ds in iter_datasets(tmp_path / "suite"):
        pd.DataFrame(ds.x, columns=ds.names).to_csv(bare / f"{ds.name}.csv", index=False)
    _eval(["--model", "none", "--data", str(bare), "--baselines", "intsort", "--out", str(tmp_path / "bare-eval")])
    status = pd.read_csv(tmp_path / "bare-eval" / "results.csv")["status"]
    assert status.str.contains("needs intervention masks").all()

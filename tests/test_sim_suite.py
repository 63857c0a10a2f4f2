"""Suites: reproducible files, sharded = unsharded, workers-independent, resumable, refused
overwrites, corrupted shards detected; the CSV format and loader round trip."""
import hashlib
import json
import re
import shutil

import numpy as np
import pytest

from simulators.storage.csvio import read_csv_dataset, write_csv_dataset
from simulators.core.errors import InputError
from simulators.storage.io import iter_datasets, source_name
from simulators.prior.sample import sample_dataset
from simulators.prior.spec import load_spec
from simulators.storage.suite import SuitePlan, suite_status, write_suite

# 70 tiny datasets: three shards of at most 32, so sharding and resuming have something to split.
PLAN = SuitePlan(spec=load_spec("train"), num_datasets=70, n=12, d_min=3, d_max=6, seed=3, interventions=1)


def _write(plan, out, **kw):
    events = list(write_suite(plan, out, **kw))
    return events


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("shard-*.npz"))}


def _same(a, b):
    assert a.name == b.name and a.names == b.names and a.meta == b.meta
    assert a.x.dtype == b.x.dtype and a.x.tobytes() == b.x.tobytes()
    assert (a.graph == b.graph).all()
    assert (a.mask is None and b.mask is None) or (a.mask == b.mask).all()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "suite"
    _write(PLAN, out)
    return out


def test_suite_holds_the_plan(reference):
    assert PLAN.num_shards == 3
    manifest = json.loads((reference / "manifest.json").read_text())
    assert manifest["complete"] and manifest["spec"]["name"] == "train" and manifest["seeds"]["entropy"] == [3, 0]
    assert "numpy" in manifest["package_versions"]
    assert [s["files"] for s in manifest["shards"]] == [{k: v} for k, v in _digests(reference).items()]
    datasets = list(iter_datasets(reference))
    assert [ds.meta["index"] for ds in datasets] == list(range(70))
    assert {ds.d for ds in datasets} == {3, 4, 5, 6} and all(ds.n == 12 for ds in datasets)
    assert all(ds.mask is not None and ds.mask.any() for ds in datasets)
    status = suite_status(reference)
    assert status.complete and status.summary["datasets"] == 70 == manifest["summary"]["datasets"]
    assert status.summary["var_sortability"] == pytest.approx(np.nanmean(
        [ds.meta["var_sortability"] for ds in datasets if ds.meta["var_sortability"] is not None]), abs=1e-4)
    assert source_name(reference) == "suite"


def test_sharded_runs_write_exactly_the_unsharded_suite(reference, tmp_path):
    out = tmp_path / "suite"
    _write(PLAN, out, num_shards=2, shard_index=1)
    assert not suite_status(out).complete and suite_status(out).shards_done == 1  # shard 1 of 0, 1, 2
    with pytest.raises(InputError, match="incomplete"):
        next(iter_datasets(out))
    _write(PLAN, out, num_shards=2, shard_index=0)
    assert suite_status(out).complete
    assert _digests(out) == _digests(reference)
    for a, b in zip(iter_datasets(out), iter_datasets(reference), strict=True):
        _same(a, b)


def test_two_workers_write_the_same_bytes(reference, tmp_path):
    out = tmp_path / "suite"
    _write(PLAN, out, workers=2)
    assert _digests(out) == _digests(reference)


def test_an_interrupted_run_resumes_where_it_stopped(reference, tmp_path):
    out = tmp_path / "suite"
    events = write_suite(PLAN, out)
    for event in events:
        if event.done == 40:  # shard 0 (32 datasets) written, shard 1 half done
            break
    events.close()
    first = out / "shard-00000.npz"
    stamp = first.stat().st_mtime_ns
    assert not (out / "shard-00001.json").exists()
    (out / ".shard-00001.npz.abc.tmp.npz").write_bytes(b"half")  # what a killed writer leaves
    resumed = list(write_suite(PLAN, out))
    assert resumed[0].done == 32 and "resuming" in resumed[0].note and resumed[-1].done == 70
    assert first.stat().st_mtime_ns == stamp
    assert _digests(out) == _digests(reference)
    assert not list(out.glob(".*tmp*"))


def test_a_finished_or_different_suite_is_not_overwritten_without_force(reference, tmp_path):
    out = tmp_path / "suite"
    shutil.copytree(reference, out)
    with pytest.raises(InputError, match="already holds this complete suite"):
        _write(PLAN, out)
    smaller = SuitePlan(spec=load_spec("test-in"), num_datasets=5, n=12, d_min=3, d_max=3)
    with pytest.raises(InputError, match="holds a different suite"):
        _write(smaller, out)
    _write(smaller, out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "shard-00000.json", "shard-00000.npz"]
    assert [ds.name for ds in iter_datasets(out)] == [f"test-in-0000{i}" for i in range(5)]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        _write(smaller, foreign)


def test_unwritable_out_is_an_input_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="cannot write|not a folder"):
        _write(PLAN, tmp_path / "file" / "suite")
    with pytest.raises(InputError, match="not a folder"):
        _write(PLAN, tmp_path / "file")


@pytest.mark.parametrize("change, message", [
    ({"format": "parquet"}, "--format must be one of npz, csv, got 'parquet'"),
    ({"num_datasets": 0}, "num-datasets must be >= 1"),
    ({"d_min": 7}, "d-max (6) must be >= d-min (7)"),
])
def test_an_impossible_plan_cannot_be_made(change, message):
    with pytest.raises(InputError, match=re.escape(message)):
        SuitePlan(**{**PLAN.__dict__, **change})


def test_a_shard_outside_the_array_writes_nothing(tmp_path):
    with pytest.raises(InputError, match=re.escape("--shard-index must be in [0, 2), got 2")):
        _write(PLAN, tmp_path / "suite", num_shards=2, shard_index=2)
    assert not (tmp_path / "suite").exists()


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_corrupted_shards_are_clear_input_errors(reference, tmp_path, damage):
    out = tmp_path / "suite"
    shutil.copytree(reference, out)
    shard = out / "shard-00001.npz"
    data = bytearray(shard.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:  # a non-zip file whose sha256 the manifest believes: the reader must still refuse it
        data = bytearray(b"not a zip at all")
        manifest = json.loads((out / "manifest.json").read_text())
        manifest["shards"][1]["files"] = {shard.name: hashlib.sha256(data).hexdigest()}
        (out / "manifest.json").write_text(json.dumps(manifest))
    shard.write_bytes(bytes(data))
    with pytest.raises(InputError) as err:
        list(iter_datasets(out))
    assert "shard-00001.npz" in str(err.value) and "\n" not in str(err.value)
    assert ("sha256 mismatch" if damage != "garbage" else "not a readable suite shard") in str(err.value)


def test_csv_round_trip_is_exact(tmp_path):
    ds = sample_dataset(load_spec("test-out"), 9, 40, np.random.default_rng(0), interventions=2, name="one")
    write_csv_dataset(tmp_path, ds)
    back = read_csv_dataset(tmp_path / "one.csv")
    assert back.names == ds.names and back.x.tobytes() == ds.x.tobytes()
    assert (back.graph == ds.graph).all() and (back.mask == ds.mask).all()
    assert [b.name for b in iter_datasets(tmp_path)] == ["one"] and source_name(tmp_path / "one.csv") == "one"


def test_csv_format_suite_holds_the_same_data(reference, tmp_path):
    out = tmp_path / "csv"
    plan = SuitePlan(**{**PLAN.__dict__, "format": "csv", "num_datasets": 4})
    _write(plan, out)
    assert sorted(p.name for p in out.glob("train-00000.*")) == ["train-00000.csv", "train-00000.edges.csv",
                                                             "train-00000.mask.csv"]
    for a, b in zip(iter_datasets(out), iter_datasets(reference)):
        _same(a, b)
    (out / "train-00002.csv").write_text("X0,X1,X2\n1,2,3\n")
    with pytest.raises(InputError, match="sha256 mismatch"):
        list(iter_datasets(out))
    for path in [*out.glob("train-00002.*"), out / "manifest.json"]:
        path.unlink()  # without the manifest it is a plain CSV folder
    assert [ds.name for ds in iter_datasets(out)] == ["train-00000", "train-00001", "train-00003"]


@pytest.mark.parametrize("data, edges, message", [
    ("a,b\n1,x\n", None, "column 'b' is not numeric"),
    ("a,a\n1,2\n", None, "duplicate column name 'a'"),
    ("a,b\n1,\n", None, "missing or infinite"),
    ("a\n1\n", None, "at least 2 columns"),
    ("", None, "empty"),
    ("a,b\n1,2\n", "cause,effect\na,c\n", "line 2 must name two columns"),
    ("a,b\n1,2\n", "from,to\na,b\n", "header must be 'cause,effect'"),
])
def test_malformed_csv_is_an_input_error(tmp_path, data, edges, message):
    (tmp_path / "d.csv").write_text(data)
    if edges is not None:
        (tmp_path / "d.edges.csv").write_text(edges)
    with pytest.raises(InputError, match=message):
        list(iter_datasets(tmp_path / "d.csv"))


def test_missing_paths_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(iter_datasets(tmp_path / "nope"))
    with pytest.raises(InputError, match="neither a suite"):
        list(iter_datasets(tmp_path))


def test_the_intervention_kind_is_planned_and_perfect_keeps_earlier_fingerprints(tmp_path):
    import dataclasses

    assert "intervention_kind" not in PLAN.to_dict()  # suites planned before the kinds resume as they were
    shifted = dataclasses.replace(PLAN, num_datasets=2, intervention_kind="shift")
    assert shifted.to_dict()["intervention_kind"] == "shift"
    assert shifted.fingerprint() != dataclasses.replace(shifted, intervention_kind="perfect").fingerprint()
    _write(shifted, tmp_path / "shift")
    assert [ds.meta["intervention_kind"] for ds in iter_datasets(tmp_path / "shift")] == ["shift", "shift"]
    with pytest.raises(InputError, match="--intervention-kind must be one of perfect, shift"):
        dataclasses.replace(PLAN, intervention_kind="soft")

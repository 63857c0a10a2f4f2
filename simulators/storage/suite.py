"""Writing a suite: a plan of datasets split into fixed shards, resumable and shardable.

Dataset i is drawn from ``SeedSequence(entropy=[seed, spec.seed_salt], spawn_key=(i,))`` and
shard k always holds datasets ``k*S .. (k+1)*S - 1`` (S depends only on the plan). So the
arrays do not depend on the number of workers, and ``num_shards = K, shard_index = I`` (the
shards k with k mod K == I) writes exactly its part of the unsharded suite: K tasks writing into
the same folder produce the same files as one run. Whoever finishes the last shard writes the
complete manifest. A shard counts as done once its ``shard-XXXXX.json`` record exists (written
after its data, atomically), so a rerun of the same command resumes after an interruption.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import multiprocessing
import shutil
import sys
import tempfile
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from simulators.core.atomic import atomic_write_bytes, atomic_write_text
from simulators.storage.csvio import write_csv_dataset
from simulators.core.dataset import Dataset
from simulators.core.errors import InputError
from simulators.storage.manifest import (FORMAT_VERSION, KIND, MANIFEST, SHARD_FILE, read_json, read_sidecar,
                                 shard_stem, summarize)
from simulators.core.provenance import git_commit, package_versions
from simulators.core.resources import Estimate, describe_size
from simulators.core.sharding import check_shard
from simulators.prior.sample import check_intervention_kind, dataset_cost, sample_dataset
from simulators.storage.shards import pack_shard, sha256_bytes
from simulators.prior.spec import Spec, spec_to_dict

FORMATS = ("npz", "csv")
_MAX_SHARD_DATASETS = 32
_MAX_SHARD_BYTES = 64 * 2**20


@dataclass(frozen=True)
class SuitePlan:
    """What a suite holds. Everything that changes the data is here (and in its fingerprint);
    how it is computed (workers, sharding) is not."""

    spec: Spec
    num_datasets: int
    n: int
    d_min: int
    d_max: int
    seed: int = 0
    interventions: int = 0
    standardize: bool = True
    format: str = "npz"
    intervention_kind: str = "perfect"

    def __post_init__(self) -> None:
        """InputError on any impossible setting: a plan that exists can be estimated and written."""
        if self.num_datasets < 1:
            raise InputError(f"num-datasets must be >= 1, got {self.num_datasets}")
        if self.n < 1:
            raise InputError(f"n must be >= 1, got {self.n}")
        if self.d_max < self.d_min:
            raise InputError(f"d-max ({self.d_max}) must be >= d-min ({self.d_min})")
        self.spec.check_d(self.d_min)
        if not 0 <= self.interventions <= self.d_min:
            raise InputError(f"interventions must be between 0 and d={self.d_min}, got {self.interventions}")
        if self.seed < 0:
            raise InputError(f"seed must be >= 0, got {self.seed}")
        check_intervention_kind(self.intervention_kind, "--intervention-kind")
        if self.format not in FORMATS:
            raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {self.format!r}")

    @property
    def shard_size(self) -> int:
        """Datasets per shard: at most 32, and about 64 MiB of data at most."""
        per_dataset = self.n * self.d_max * (4 + (1 if self.interventions else 0)) + self.d_max ** 2
        return max(1, min(_MAX_SHARD_DATASETS, _MAX_SHARD_BYTES // per_dataset))

    @property
    def num_shards(self) -> int:
        return -(-self.num_datasets // self.shard_size)

    def shard_datasets(self, k: int) -> range:
        return range(k * self.shard_size, min((k + 1) * self.shard_size, self.num_datasets))

    def dataset_name(self, i: int) -> str:
        return f"{self.spec.name}-{i:0{max(5, len(str(self.num_datasets - 1)))}d}"

    def to_dict(self) -> dict:
        # The default kind is left out, so that every suite planned before the kinds existed keeps its
        # fingerprint (and resumes).
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "spec"
                  and not (f.name == "intervention_kind" and self.intervention_kind == "perfect")}
        return {"spec": spec_to_dict(self.spec), **fields, "shard_size": self.shard_size}

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode("utf-8")).hexdigest()

    def seeds(self) -> dict:
        return {"entropy": [self.seed, self.spec.seed_salt],
                "dataset_i": "numpy.random.default_rng(SeedSequence(entropy, spawn_key=(i,)))"}


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` datasets of this task are written (resumed ones included)."""

    done: int
    total: int
    note: str = ""


@dataclass(frozen=True)
class SuiteStatus:
    """What a suite folder holds now: finished shards and the summary of their datasets."""

    complete: bool
    shards_done: int
    shards_total: int
    summary: dict


def estimate_suite(plan: SuitePlan, *, workers: int = 1, num_shards: int = 1, shard_index: int = 0) -> Estimate:
    """Size, rough time and peak memory of this task's part of the suite (as if nothing were done yet)."""
    count = sum(len(plan.shard_datasets(k)) for k in range(plan.num_shards) if k % num_shards == shard_index)
    sizes = np.unique(np.linspace(plan.d_min, plan.d_max, num=min(64, plan.d_max - plan.d_min + 1)).round())
    mean_seconds = float(np.mean([dataset_cost(int(d), plan.n)[0] for d in sizes]))
    parallel = max(1, min(workers, count))
    per_value = 4 if plan.format == "npz" else 13  # float32, or "%.9g," text
    one = plan.n * plan.d_max * per_value + plan.d_max ** 2
    # Each process holds one dataset in the making; the main one also a shard and its packed copy,
    # and with workers, the finished datasets in flight.
    peak = parallel * dataset_cost(plan.d_max, plan.n)[1] + 2 * plan.shard_size * one
    if workers > 1:
        peak += 2 * workers * one
    data = int(count * plan.n * float(np.mean(sizes)) * per_value)
    return Estimate(describe_size(count, (plan.d_min, plan.d_max), (plan.n, plan.n)), data, int(peak),
                    count * mean_seconds / parallel)


def make_dataset(plan: SuitePlan, i: int) -> Dataset:
    """Dataset i of the plan; depends on the plan and i only."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=[plan.seed, plan.spec.seed_salt], spawn_key=(i,)))
    d = plan.d_min if plan.d_min == plan.d_max else int(rng.integers(plan.d_min, plan.d_max + 1))
    ds = sample_dataset(plan.spec, d, plan.n, rng, interventions=plan.interventions,
                        standardize=plan.standardize, name=plan.dataset_name(i), intervention_kind=plan.intervention_kind)
    ds.meta.update(index=i, seed={"entropy": [plan.seed, plan.spec.seed_salt], "spawn_key": [i]})
    return ds


def write_suite(plan: SuitePlan, out: Path, *, workers: int = 1, num_shards: int = 1, shard_index: int = 0,
                force: bool = False) -> Iterator[Progress]:
    """Write (or resume) this task's shards of the suite into ``out``, yielding progress.

    The first event reports what was already done. ``force`` rewrites this task's shards and
    replaces a different or complete suite; without it such a folder is an InputError.
    """
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    check_shard(num_shards, shard_index)
    out = Path(out)
    owned = [k for k in range(plan.num_shards) if k % num_shards == shard_index]
    # A folder this call creates, alone, is removed again if it fails before a shard is done.
    discard_on_failure = not out.exists() and num_shards == 1
    _prepare(plan, out, force=force, owns_shards=bool(owned))
    if force:
        _remove_shards(out, lambda k: k % num_shards == shard_index)
    fingerprint = plan.fingerprint()
    todo = [k for k in owned if read_sidecar(out, k, fingerprint) is None]
    total = sum(len(plan.shard_datasets(k)) for k in owned)
    done = total - sum(len(plan.shard_datasets(k)) for k in todo)
    yield Progress(done, total, f"resuming: {len(owned) - len(todo)} of {len(owned)} shards done" if done else "")
    for k in todo:
        _remove_temporaries(out, plan, k)
    shards = deque(todo)
    batch: list[Dataset] = []
    indices = [i for k in todo for i in plan.shard_datasets(k)]
    try:
        for ds in _ordered_map(functools.partial(make_dataset, plan), indices, workers):
            batch.append(ds)
            done += 1
            if len(batch) == len(plan.shard_datasets(shards[0])):
                _write_shard(plan, out, shards.popleft(), batch)
                batch = []
                discard_on_failure = False
            yield Progress(done, total, ds.name)
    except InputError:  # e.g. a spec whose values overflow: nothing worth resuming
        if discard_on_failure:
            shutil.rmtree(out, ignore_errors=True)
        raise
    _finalize(plan, out)


def suite_status(out: Path) -> SuiteStatus:
    """Finished shards of the suite in ``out`` and the summary of their datasets."""
    manifest = read_json(Path(out) / MANIFEST, "suite manifest")
    plan, fingerprint = manifest["plan"], manifest["fingerprint"]
    total = -(-plan["num_datasets"] // plan["shard_size"])
    records = [r for r in (read_sidecar(Path(out), k, fingerprint) for k in range(total)) if r is not None]
    metas = [m for r in records for m in r["datasets"]]
    return SuiteStatus(bool(manifest.get("complete")), len(records), total, summarize(metas))


def _prepare(plan: SuitePlan, out: Path, *, force: bool, owns_shards: bool) -> None:
    """Check that ``out`` may receive this plan, and write the plan manifest if it is new."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise InputError(f"cannot write to --out {out}: {exc.strerror or exc}") from None
    manifest_path = out / MANIFEST
    try:
        existing = read_json(manifest_path, "suite manifest") if manifest_path.exists() else None
    except InputError:
        if not force:
            raise
        existing = None
    same = existing is not None and existing.get("fingerprint") == plan.fingerprint()
    if not force:
        if existing is None and any(not p.name.startswith(".") for p in out.iterdir()):
            raise InputError(f"--out {out} is not empty and holds no suite; choose a new folder or pass --force")
        if existing is not None and not same:
            raise InputError(f"--out {out} holds a different suite (spec {existing.get('spec', {}).get('name')!r}); "
                             "pass --force to replace it or choose another folder")
        if same and existing.get("complete") and owns_shards:
            raise InputError(f"--out {out} already holds this complete suite; pass --force to write it again")
    if not same or force:
        _write_manifest(plan, out, complete=False)


def _write_manifest(plan: SuitePlan, out: Path, *, complete: bool, shards: list | None = None,
                    summary: dict | None = None) -> None:
    manifest = {
        "kind": KIND, "format_version": FORMAT_VERSION, "complete": complete,
        "spec": spec_to_dict(plan.spec), "plan": plan.to_dict(), "fingerprint": plan.fingerprint(),
        "seeds": plan.seeds(), "package_versions": package_versions(), "git_commit": git_commit(),
        "shards": shards or [], "summary": summary or {},
    }
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")


def _write_shard(plan: SuitePlan, out: Path, k: int, datasets: list[Dataset]) -> None:
    """Data first, then the record that marks the shard done: both atomic."""
    if plan.format == "npz":
        data = pack_shard(datasets)
        atomic_write_bytes(out / f"{shard_stem(k)}.npz", data)
        files = {f"{shard_stem(k)}.npz": {"sha256": sha256_bytes(data), "bytes": len(data)}}
    else:
        files = {}
        for ds in datasets:
            for name, sha in write_csv_dataset(out, ds).items():
                files[name] = {"sha256": sha, "bytes": (out / name).stat().st_size}
    record = {"fingerprint": plan.fingerprint(), "shard": k, "files": files,
              "datasets": [{"name": ds.name, **ds.meta} for ds in datasets]}
    atomic_write_text(out / f"{shard_stem(k)}.json", json.dumps(record) + "\n")


def _finalize(plan: SuitePlan, out: Path) -> None:
    """Write the complete manifest once every shard of the plan is done (by any task)."""
    fingerprint = plan.fingerprint()
    records = [read_sidecar(out, k, fingerprint) for k in range(plan.num_shards)]
    if any(r is None for r in records):
        return
    shards = [{"index": r["shard"], "record": f"{shard_stem(r['shard'])}.json",
               "files": {name: info["sha256"] for name, info in r["files"].items()},
               "datasets": [m["name"] for m in r["datasets"]]} for r in records]
    _write_manifest(plan, out, complete=True, shards=shards,
                    summary=summarize([m for r in records for m in r["datasets"]]))


def _remove_shards(out: Path, owned: Callable[[int], bool]) -> None:
    """Delete the shard records and data of every shard k with ``owned(k)`` (for --force)."""
    for path in sorted(out.iterdir()):
        match = SHARD_FILE.match(path.name)
        if not match or not owned(int(match.group(1))):
            continue
        if match.group(2) == "json":
            try:
                listed = json.loads(path.read_text(encoding="utf-8")).get("files", {})
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                listed = {}
            for name in listed:
                if Path(name).name == name:  # never follow a path out of the folder
                    (out / name).unlink(missing_ok=True)
        path.unlink(missing_ok=True)


def _remove_temporaries(out: Path, plan: SuitePlan, k: int) -> None:
    """Temp files a killed writer of shard k left behind (``simulators.core.atomic`` names them ``.NAME.*``)."""
    stems = [shard_stem(k)]
    if plan.format == "csv":
        stems += [plan.dataset_name(i) for i in plan.shard_datasets(k)]
    for stem in stems:
        for tmp in out.glob(f".{stem}.*.tmp*"):
            tmp.unlink(missing_ok=True)


def _ordered_map(fn: Callable[[int], Dataset], items: Iterable[int], workers: int) -> Iterator[Dataset]:
    """``map(fn, items)`` in order; with workers > 1 in processes, at most 2 * workers in flight."""
    if workers == 1:
        yield from map(fn, items)
        return
    items = iter(items)
    # fork on Linux, as torch's DataLoader does: spawn would re-import the caller's main module
    # (the whole CLI, torch included) in every worker. Elsewhere fork is unsafe: spawn.
    method = "fork" if sys.platform == "linux" else "spawn"
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))
    try:
        pending = deque(pool.submit(fn, i) for _, i in zip(range(2 * workers), items))
        while pending:
            result = pending.popleft().result()
            for i in items:
                pending.append(pool.submit(fn, i))
                break
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

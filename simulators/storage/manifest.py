"""The files that describe a suite folder, shared by its writer and its reader.

- ``manifest.json``: the plan (spec, sizes, seeds), provenance and, once every shard is written,
  ``complete: true`` with the shard list (files and sha256) and a summary.
- ``shard-XXXXX.json`` (one per finished shard, written after its data): the plan fingerprint,
  the shard's files with sha256 and byte size, and each dataset's metadata.
- data: ``shard-XXXXX.npz`` (format ``npz``) or ``NAME.csv`` files (format ``csv``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from simulators.core.errors import InputError

FORMAT_VERSION = 1
KIND = "amort-suite"
MANIFEST = "manifest.json"
SHARD_FILE = re.compile(r"^shard-(\d{5,})\.(npz|json)$")


def shard_stem(k: int) -> str:
    return f"shard-{k:05d}"


def read_json(path: Path, what: str) -> dict:
    """A JSON object from ``path``; InputError naming ``what`` if it is missing or malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} {path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{what} {path} is unreadable: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} {path} is not a JSON object")
    return data


def read_manifest(folder: Path) -> dict:
    """The manifest of a suite folder, checked for kind and format version."""
    manifest = read_json(folder / MANIFEST, "suite manifest")
    if manifest.get("kind") != KIND:
        raise InputError(f"{folder / MANIFEST} is not an amort suite manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{folder}: suite format version {manifest.get('format_version')} is not supported "
                         f"(this amort reads version {FORMAT_VERSION})")
    return manifest


def read_sidecar(folder: Path, k: int, fingerprint: str) -> dict | None:
    """The record of shard k if it is finished for the plan ``fingerprint`` and its files are all
    there with their recorded sizes; None otherwise (missing, stale or from another plan)."""
    path = folder / f"{shard_stem(k)}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("fingerprint") != fingerprint or record.get("shard") != k:
        return None
    for name, info in record.get("files", {}).items():
        file = folder / name
        if not file.is_file() or file.stat().st_size != info.get("bytes"):
            return None
    return record


def summarize(metas: list[dict]) -> dict:
    """Suite summary from dataset metadata: counts, sizes, mean density and sortabilities."""
    if not metas:
        return {"datasets": 0}

    def mean(key: str) -> float | None:
        values = np.array([m[key] for m in metas if m.get(key) is not None], dtype=float)
        return round(float(values.mean()), 4) if values.size else None

    ds = [m["d"] for m in metas]
    ns = [m["n"] for m in metas]
    return {
        "datasets": len(metas), "d_min": min(ds), "d_max": max(ds), "n_min": min(ns), "n_max": max(ns),
        "edges_per_var": mean("edges_per_var"), "var_sortability": mean("var_sortability"),
        "var_sortability_raw": mean("var_sortability_raw"), "r2_sortability": mean("r2_sortability"),
    }

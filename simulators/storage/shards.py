"""Suite shards: several datasets in one ``.npz`` written byte-for-byte reproducibly.

Arrays ``x_0000``, ``graph_0000``, ``mask_0000`` (when intervened) per dataset, and ``index``:
UTF-8 JSON (as a uint8 array) with each dataset's name, variable names and metadata. No object
arrays, so ``np.load(..., allow_pickle=False)`` reads it. The zip entries carry a fixed timestamp,
so the same datasets always give the same bytes, and the same sha256.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile

import numpy as np

from simulators.core.dataset import Dataset
from simulators.core.errors import InputError

_EPOCH = (1980, 1, 1, 0, 0, 0)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack_shard(datasets: list[Dataset]) -> bytes:
    """The ``.npz`` bytes holding ``datasets``."""
    index = []
    arrays: dict[str, np.ndarray] = {}
    for i, ds in enumerate(datasets):
        index.append({"name": ds.name, "names": ds.names, "meta": ds.meta})
        arrays[f"x_{i:04d}"] = ds.x
        if ds.graph is not None:
            arrays[f"graph_{i:04d}"] = ds.graph
        if ds.mask is not None:
            arrays[f"mask_{i:04d}"] = ds.mask
    arrays["index"] = np.frombuffer(json.dumps(index).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, array in arrays.items():
            with zf.open(zipfile.ZipInfo(f"{key}.npy", date_time=_EPOCH), "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def unpack_shard(data: bytes, source: str) -> list[Dataset]:
    """Datasets from ``.npz`` bytes; InputError naming ``source`` if they are not a valid shard."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            index = json.loads(npz["index"].tobytes().decode("utf-8"))
            out = []
            for i, entry in enumerate(index):
                key = f"{i:04d}"
                out.append(Dataset(
                    name=entry["name"], x=npz[f"x_{key}"], names=list(entry["names"]), meta=entry["meta"],
                    graph=npz[f"graph_{key}"] if f"graph_{key}" in npz.files else None,
                    mask=npz[f"mask_{key}"] if f"mask_{key}" in npz.files else None,
                ))
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError, TypeError) as exc:
        raise InputError(f"{source}: not a readable suite shard ({type(exc).__name__}: {exc})".replace("\n", " ")) from None
    return out

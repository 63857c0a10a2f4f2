"""Device names (auto, cpu, cuda[:N]) to a torch device string, with a clear error when CUDA is absent."""
from __future__ import annotations

import torch

from simulators.core.errors import InputError


def resolve_device(name: str) -> str:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is an input error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return name
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"device {name}: no CUDA GPU is visible (use cpu or auto)")
        return name
    raise InputError(f"device must be auto, cpu or cuda, got {name!r}")

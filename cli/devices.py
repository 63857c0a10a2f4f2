"""`--device auto|cpu|cuda[:N]`: the rule lives in the library (the Python API takes the same names)."""
from causal_amort.runtime.devices import resolve_device

__all__ = ["resolve_device"]

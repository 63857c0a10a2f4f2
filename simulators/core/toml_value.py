"""A value read from TOML (or JSON) checked against a field's type: the one rule that specs
(``simulators.prior.spec``) and run configs (``causal_amort.config``) share."""
from __future__ import annotations


def as_type(value: object, kind: type) -> object:
    """``value`` as ``kind``, or TypeError; each caller words its own error for its users.

    An int is a float too (returned as a float). A bool is only ever a bool: Python's bool
    subclasses int, but ``steps = true`` is a mistake, not 1, and ``standardize = 1`` no switch.
    """
    fits = isinstance(value, kind) or (kind is float and isinstance(value, int))
    if not fits or isinstance(value, bool) != (kind is bool):
        raise TypeError(f"expected {kind.__name__}, got {value!r}")
    return float(value) if kind is float else value

"""Simulation specs: data (TOML), not code. A spec is a weighted mixture of graph, mechanism and
noise families with parameter ranges; presets are the TOML files in ``simulators/prior/presets/``.

Layout (every key optional except the families)::

    name = "my-prior"          # default: the file name
    description = "..."
    seed_salt = 0              # mixed into every dataset seed: same --seed, different SCMs
    [mechanism]
    mix_prob = 0.25            # P(an SCM draws each variable's mechanism family separately)
    internal_standardize_prob = 0.2   # P(an SCM standardizes each variable as it is made)
    [[graph.families]]
    kind = "erdos_renyi"
    weight = 1.0               # relative probability of this family
    edges_per_var = [0.5, 3.0] # [low, high], drawn uniformly
    [[mechanism.families]] ... [[noise.families]] ...
"""
from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Mapping, NamedTuple, Sequence, TypeVar

import numpy as np

from simulators.core.errors import InputError
from simulators.core.toml_value import as_type
from simulators.prior.graphs import GRAPH_FAMILIES, GraphFamily
from simulators.prior.mechanisms import MECHANISM_FAMILIES, Mechanism
from simulators.prior.noise import NOISE_FAMILIES, NoiseFamily

PRESET_DIR = Path(__file__).resolve().parent / "presets"
PRESETS = ("train", "train-broad", "train-skew", "train-broad-skew", "train-trees", "test-in", "test-graph",
           "test-mechanism", "test-noise", "test-out", "select-shift", "select-graph", "select-noise",
           "select-interaction", "select-out", "select-heavy", "select-joint")

_REGISTRIES: dict[str, Mapping[str, type]] = {
    "graph": GRAPH_FAMILIES, "mechanism": MECHANISM_FAMILIES, "noise": NOISE_FAMILIES,
}
_SECTION_KEYS = {"graph": {"families"}, "noise": {"families"},
                 "mechanism": {"families", "mix_prob", "internal_standardize_prob"}}
_TOP_KEYS = {"name", "description", "seed_salt", *_SECTION_KEYS}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

F = TypeVar("F", GraphFamily, Mechanism, NoiseFamily)


class Weighted(NamedTuple, Generic[F]):
    """One family of a spec's mixture and its relative probability (a pair: ``w, fam = entry``)."""

    weight: float
    family: F


@dataclass(frozen=True)
class Spec:
    """A prior over SCMs: weighted mixtures of graph, mechanism and noise families."""

    name: str
    graphs: tuple[Weighted[GraphFamily], ...]
    mechanisms: tuple[Weighted[Mechanism], ...]
    noises: tuple[Weighted[NoiseFamily], ...]
    description: str = ""
    seed_salt: int = 0
    mix_prob: float = 0.0
    internal_standardize_prob: float = 0.0

    def check_d(self, d: int) -> None:
        """InputError if d < 2 or some graph family cannot reach its density on d nodes."""
        if d < 2:
            raise InputError(f"d must be >= 2, got {d}")
        for entry in self.graphs:
            entry.family.check_d(d)


def pick(families: Sequence[Weighted[F]], rng: np.random.Generator) -> F:
    """One family, with probability proportional to its weight."""
    weights = np.array([entry.weight for entry in families])
    return families[int(rng.choice(len(families), p=weights / weights.sum()))].family


def load_spec(name_or_path: str) -> Spec:
    """A preset by name, or a TOML spec file by path. InputError on anything unknown or malformed."""
    if name_or_path in PRESETS:
        path = PRESET_DIR / f"{name_or_path}.toml"
    else:
        path = Path(name_or_path)
        if path.suffix != ".toml" or not path.is_file():
            raise InputError(f"unknown preset or spec file {name_or_path!r} "
                             f"(presets: {', '.join(PRESETS)}; or a path to a .toml file)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"spec {path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"spec {path}: cannot read: {exc}") from None
    try:
        return spec_from_dict(data, default_name=path.stem)
    except InputError as exc:
        raise InputError(f"spec {path}: {exc}") from None


def spec_from_dict(data: Mapping[str, Any], default_name: str = "spec") -> Spec:
    """Build and validate a Spec from the TOML/JSON structure (inverse of ``spec_to_dict``)."""
    _check_keys("spec", data, _TOP_KEYS)
    name = data.get("name", default_name)
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"name must be letters, digits, '.', '_' or '-', got {name!r}")
    sections = {}
    for section, registry in _REGISTRIES.items():
        table = data.get(section)
        if not isinstance(table, Mapping):
            raise InputError(f"missing [{section}] section with at least one [[{section}.families]] entry")
        _check_keys(section, table, _SECTION_KEYS[section])
        families = table.get("families")
        if not isinstance(families, list) or not families:
            raise InputError(f"[{section}] needs at least one [[{section}.families]] entry")
        sections[section] = tuple(_family(section, i, entry, registry) for i, entry in enumerate(families))
    mechanism = data["mechanism"]
    seed_salt = _typed("seed_salt", data.get("seed_salt", 0), int)
    if seed_salt < 0:
        raise InputError(f"seed_salt must be >= 0, got {seed_salt}")
    return Spec(
        name=name,
        description=_typed("description", data.get("description", ""), str),
        seed_salt=seed_salt,
        graphs=sections["graph"], mechanisms=sections["mechanism"], noises=sections["noise"],
        mix_prob=_probability("mechanism.mix_prob", mechanism.get("mix_prob", 0.0)),
        internal_standardize_prob=_probability("mechanism.internal_standardize_prob",
                                               mechanism.get("internal_standardize_prob", 0.0)),
    )


def spec_to_dict(spec: Spec) -> dict:
    """JSON/TOML-ready structure of a Spec; ``spec_from_dict`` reads it back to an equal Spec."""
    def families(entries: Sequence[Weighted]) -> list[dict]:
        return [{"kind": e.family.kind, "weight": e.weight, **_plain(dataclasses.asdict(e.family))} for e in entries]

    return {
        "name": spec.name, "description": spec.description, "seed_salt": spec.seed_salt,
        "graph": {"families": families(spec.graphs)},
        "mechanism": {"mix_prob": spec.mix_prob, "internal_standardize_prob": spec.internal_standardize_prob,
                      "families": families(spec.mechanisms)},
        "noise": {"families": families(spec.noises)},
    }


def _plain(fields: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}


def _family(section: str, index: int, entry: Any, registry: Mapping[str, type]) -> Weighted:
    where = f"{section}.families[{index}]"
    if not isinstance(entry, Mapping):
        raise InputError(f"{where} must be a table")
    kind = entry.get("kind")
    if kind not in registry:
        raise InputError(f"{where}: unknown kind {kind!r} (known: {', '.join(registry)})")
    cls = registry[kind]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(f"{where} ({kind})", entry, {"kind", "weight", *fields})
    weight = _typed(f"{where}.weight", entry.get("weight", 1.0), float)
    if not weight > 0:
        raise InputError(f"{where}.weight must be a number > 0, got {weight!r}")
    kwargs = {key: _coerce(f"{where}.{key}", value, fields[key].default)
              for key, value in entry.items() if key in fields}
    return Weighted(float(weight), cls(**kwargs))


def _coerce(where: str, value: Any, default: Any) -> Any:
    """Convert a TOML value to the type of the field's default, or raise InputError."""
    if isinstance(default, tuple):
        if not isinstance(value, list) or not value:
            raise InputError(f"{where} must be a list, got {value!r}")
        return tuple(_typed(where, v, type(default[0])) for v in value)
    return _typed(where, value, type(default))


def _typed(where: str, value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (``as_type``'s rule), finite if a float; every number of a spec passes here."""
    try:
        value = as_type(value, kind)
    except TypeError:
        raise InputError(f"{where} must be of type {kind.__name__}, got {value!r}") from None
    # TOML allows nan and inf; no parameter means anything with them, and they would only
    # fail later, in the middle of writing a suite.
    if kind is float and not math.isfinite(value):
        raise InputError(f"{where} must be a finite number, got {value!r}")
    return value


def _probability(where: str, value: Any) -> float:
    value = _typed(where, value, float)
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{where} must be in [0, 1], got {value}")
    return value


def _check_keys(where: str, table: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")

"""Prior knowledge about the order, by variable name: which variables must come before which.

Four forms, freely mixed:

- require ``"A<B"``: A comes before B;
- tiers: lists of names (a tiers file: one line per tier, names separated by commas); every
  variable of an earlier tier comes before every variable of a later one, unlisted ones are free;
- first NAME: before every variable not itself marked first;
- last NAME: after every variable not itself marked last.

`precede_matrix` turns them into the (d, d) bool matrix that decoding honours ([i, j]: i comes
before j), refusing unknown names and contradictions (a cycle of any length through the
constraints) with a one-line InputError that names the offending constraint.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from simulators.core.errors import InputError

# Kinds of constraint, in the order they are blamed: of the constraints on a cycle, the one
# of the latest kind (then the latest given) is named as the one that closes it.
_KINDS = ("tiers", "first", "last", "require")


def parse_require(text: str) -> tuple[str, str]:
    """``"A<B"`` -> ("A", "B"); surrounding spaces are dropped."""
    before, sep, after = text.partition("<")
    before, after = before.strip(), after.strip()
    if not sep or not before or not after or "<" in after:
        raise InputError(f"require {text!r}: expected A<B (A comes before B)")
    return before, after


def parse_tier(line: str, where: str) -> tuple[str, ...]:
    """The names of one tier, ``"a, b, c"`` -> ("a", "b", "c"); `where` names it in errors."""
    names = tuple(name.strip() for name in line.split(","))
    if not any(names):
        raise InputError(f"{where} is empty")
    if not all(names):
        raise InputError(f"{where} has an empty name (a stray comma?): {line.strip()!r}")
    return names


@dataclass(frozen=True)
class Constraints:
    """Prior knowledge about the order (see the module's docstring).

    ``require`` holds ``"A<B"`` strings or (A, B) pairs; each tier is a list of names or one
    comma-separated string; ``first`` and ``last`` are names (one name may be given as a string).
    Everything is normalized to tuples of names and checked for form here; names are checked
    against the data by `precede_matrix`.
    """

    require: tuple[tuple[str, str], ...] = ()
    tiers: tuple[tuple[str, ...], ...] = ()
    first: tuple[str, ...] = ()
    last: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        require = tuple(parse_require(r) if isinstance(r, str) else _pair(r) for r in _items(self.require))
        tiers = tuple(parse_tier(t, f"tier {k}") if isinstance(t, str) else _names(t, f"tier {k}", nonempty=True)
                      for k, t in enumerate(_items(self.tiers), start=1))
        seen: dict[str, int] = {}
        for k, tier in enumerate(tiers, start=1):
            for name in tier:
                if name in seen:
                    where = f"tier {k} lists {name!r} twice" if seen[name] == k else \
                        f"{name!r} is in tier {seen[name]} and tier {k}"
                    raise InputError(f"tiers: {where}; a variable belongs to one tier")
                seen[name] = k
        object.__setattr__(self, "require", require)
        object.__setattr__(self, "tiers", tiers)
        object.__setattr__(self, "first", _names(self.first, "first"))
        object.__setattr__(self, "last", _names(self.last, "last"))

    def __bool__(self) -> bool:
        return bool(self.require or self.tiers or self.first or self.last)

    def to_dict(self) -> dict:
        """The constraints as JSON-ready lists (require as "A<B" strings)."""
        return {"require": [f"{a}<{b}" for a, b in self.require], "tiers": [list(t) for t in self.tiers],
                "first": list(self.first), "last": list(self.last)}


def as_constraints(value: Constraints | str | Iterable[str] | None) -> Constraints:
    """What the Python API accepts: Constraints, one ``"A<B"`` string, a list of them, or None."""
    if value is None:
        return Constraints()
    if isinstance(value, Constraints):
        return value
    return Constraints(require=(value,) if isinstance(value, str) else tuple(value))


def read_tiers(path: str | Path) -> tuple[tuple[str, ...], ...]:
    """The tiers of a tiers file: one line per tier, names separated by commas, earliest tier
    first; blank lines and lines starting with ``#`` are skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"tiers file {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"tiers file {path} is a folder") from None
    except UnicodeDecodeError:
        raise InputError(f"tiers file {path} is not UTF-8 text") from None
    tiers = tuple(parse_tier(line, f"tiers file {path} line {number}")
                  for number, line in enumerate(text.splitlines(), start=1)
                  if line.strip() and not line.lstrip().startswith("#"))
    if not tiers:
        raise InputError(f"tiers file {path} holds no tier (one line per tier, names separated by commas)")
    return tiers


def precede_matrix(constraints: Constraints, names: Sequence[str]) -> np.ndarray:
    """(d, d) bool, True at [i, j] when variable i must come before variable j.

    InputError for a name that is not among `names` and for constraints that contradict each
    other, however long the chain (a cycle through them), naming the constraint that closes it.
    """
    index = {name: i for i, name in enumerate(names)}
    d = len(names)
    # source[i, j]: which constraint first asked for i before j (-1: none); labels name them.
    source = np.full((d, d), -1, dtype=np.int64)
    labels: list[tuple[str, object]] = []

    def add(rows: Sequence[int], cols: Sequence[int], kind: str, detail: object) -> None:
        block = source[np.ix_(rows, cols)]
        source[np.ix_(rows, cols)] = np.where(block < 0, len(labels), block)
        labels.append((kind, detail))

    def at(name: str, what: str) -> int:
        if name not in index:
            raise InputError(f"{what}: unknown variable {name!r}{_hint(name, names)}")
        return index[name]

    tiers = [[at(name, f"tiers (tier {k})") for name in tier] for k, tier in enumerate(constraints.tiers, start=1)]
    for k, earlier in enumerate(tiers):
        for m in range(k + 1, len(tiers)):
            add(earlier, tiers[m], "tiers", (k + 1, m + 1))
    for kind, group in (("first", constraints.first), ("last", constraints.last)):
        marked = [at(name, f"{kind} {name}") for name in group]
        others = sorted(set(range(d)) - set(marked))
        for i in marked:
            if kind == "first":
                add([i], others, kind, None)
            else:
                add(others, [i], kind, None)
    for a, b in constraints.require:
        what = f"require {a}<{b}"
        i, j = at(a, what), at(b, what)
        if i == j:
            raise InputError(f"{what}: a variable cannot come before itself")
        add([i], [j], "require", None)
    precede = source >= 0
    _refuse_cycles(precede, source, labels, names)
    return precede


def reveal_edges(graph: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """(d, d) bool: a uniform random `fraction` (rounded) of the edges of `graph` (i -> j at
    [i, j]), as must-precede constraints; how `amort eval --reveal` gives the model prior knowledge.

    Of a true graph with cycles (feedback loops) no order honours every edge, so an edge that
    would close a cycle with those already drawn is skipped; a DAG loses none.
    """
    if not 0.0 <= fraction <= 1.0:
        raise InputError(f"the fraction of edges to reveal must be in [0, 1], got {fraction}")
    edges = np.argwhere(np.asarray(graph) != 0)
    d = np.shape(graph)[0]
    revealed = np.zeros((d, d), dtype=bool)
    # reach[i, j]: j can be reached from i through the revealed edges (i itself included).
    reach = np.eye(d, dtype=bool)
    for i, j in edges[rng.choice(len(edges), size=round(fraction * len(edges)), replace=False)]:
        if reach[j, i]:
            continue
        revealed[i, j] = True
        reach |= np.outer(reach[:, i], reach[j])
    return revealed


def _refuse_cycles(precede: np.ndarray, source: np.ndarray, labels: list[tuple[str, object]],
                   names: Sequence[str]) -> None:
    sorter = TopologicalSorter({j: np.flatnonzero(precede[:, j]).tolist() for j in range(len(names))})
    try:
        sorter.prepare()
    except CycleError as exc:
        cycle = exc.args[1]  # each node comes before the next; the first is repeated at the end
        steps = {int(source[i, j]): (i, j) for i, j in zip(cycle, cycle[1:])}
        blamed = sorted(steps, key=lambda s: (_KINDS.index(labels[s][0]), s))
        described = [_describe(labels[s], *steps[s], names) for s in blamed]
        others = described[:-1]
        shown = ", ".join(others[:4]) + (f" and {len(others) - 4} more" if len(others) > 4 else "")
        raise InputError(f"contradictory constraints: {described[-1]} conflicts with {shown}") from None


def _describe(label: tuple[str, object], i: int, j: int, names: Sequence[str]) -> str:
    """One constraint, as the user gave it, with the pair of variables it orders."""
    kind, detail = label
    a, b = names[i], names[j]
    if kind == "require":
        return f"require {a}<{b}"
    if kind == "tiers":
        return f"tiers ({a} in tier {detail[0]}, {b} in tier {detail[1]})"
    return f"first {a} (so {a}<{b})" if kind == "first" else f"last {b} (so {a}<{b})"


def _hint(name: str, names: Sequence[str]) -> str:
    # Case is ignored for the suggestion: "Age" for "age" is the usual slip.
    lowered = {n.lower(): n for n in reversed(names)}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.75)
    if close:
        return f" (did you mean {lowered[close[0]]!r}?)"
    listing = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
    return f"; the variables are {listing}"


def _items(value: object) -> tuple:
    """A tuple of the entries of a list-like field (a single string is one entry)."""
    return (value,) if isinstance(value, str) else tuple(value)


def _names(value: object, where: str, nonempty: bool = False) -> tuple[str, ...]:
    names = _items(value)
    if nonempty and not names:
        raise InputError(f"{where} is empty")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{where}: expected variable names, got {name!r}")
    return tuple(name.strip() for name in names)


def _pair(value: object) -> tuple[str, str]:
    pair = _names(value, "require")
    if len(pair) != 2:
        raise InputError(f"require {value!r}: expected 'A<B' or a pair (A, B)")
    return pair

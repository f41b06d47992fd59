"""Which combinations the matrix runs. Everything here is derived from the option model
(:data:`msmvp.options.AXES`, :func:`msmvp.options.combinations`, :data:`msmvp.options.RULES`),
so a value counts as soon as it is built and nothing here names a value.

- the *asked* set: every valid combination of the five asked axes, the others at defaults;
- the *full* set: the asked set crossed with every deploy target, plus every built value of every other
  axis at least once (each in the combination nearest to the defaults that allows it);
- the *pairwise* set: a covering array of all ten axes (every pair of built values of any two
  axes appears in some combination), computed by allpairspy under the rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from msmvp import options
from msmvp.errors import MatrixSelectionError

Combination = dict[str, str]

# The questions a team answers first: their product is what msmvp's own CI regenerates.
ASKED: tuple[str, ...] = ("protocol", "messaging", "data", "discovery", "auth")
# The render + static pass also crosses them with every deploy target.
FULL: tuple[str, ...] = (*ASKED, "deploy")
SELECTIONS: tuple[str, ...] = ("full", "asked", "pairwise", "all")


def label(combo: Mapping[str, str]) -> str:
    """A short, unique, stable name: the values that differ from the defaults, or ``defaults``."""
    defaults = options.defaults()
    changed = [f"{k}={v}" for k, v in combo.items() if v != defaults[k]]
    return ",".join(changed) or "defaults"


def _distance(combo: Mapping[str, str]) -> int:
    defaults = options.defaults()
    return sum(1 for k, v in combo.items() if v != defaults[k])


def _nearest(candidates: Iterable[Combination]) -> Combination | None:
    """The candidate with the fewest non-default values (the first of equals, in model order)."""
    best: Combination | None = None
    for combo in candidates:
        if best is None or _distance(combo) < _distance(best):
            best = combo
    return best


def project(axes: Sequence[str]) -> list[Combination]:
    """For each distinct choice of ``axes`` in a valid built combination, the one nearest the defaults.

    When the defaults of the other axes break no rule, that is "the other axes at defaults".
    """
    for name in axes:
        if name not in options.AXIS_BY_NAME:
            raise MatrixSelectionError(f"{name!r} is not an axis", hint=f"axes: {', '.join(options.AXIS_BY_NAME)}")
    groups: dict[tuple[str, ...], list[Combination]] = {}
    for combo in options.combinations():
        groups.setdefault(tuple(combo[a] for a in axes), []).append(combo)
    return [c for c in (_nearest(g) for g in groups.values()) if c is not None]


def asked() -> list[Combination]:
    """Every valid combination of the five asked axes (what the GitHub workflow generates)."""
    return project(ASKED)


def _others() -> list[options.Axis]:
    return [a for a in options.AXES if a.name not in FULL]


def full() -> list[Combination]:
    """The render + static-check set: :data:`FULL` crossed, plus every other built value once."""
    combos = project(FULL)
    seen = {label(c) for c in combos}
    for axis in _others():
        for value in sorted(axis.built):
            if any(c[axis.name] == value for c in combos):
                continue
            pick = _nearest(c for c in options.combinations() if c[axis.name] == value)
            if pick is not None and label(pick) not in seen:
                combos.append(pick)
                seen.add(label(pick))
    return combos


def expected_full_count() -> int:
    """What the option model says the full set holds, counted independently of :func:`full`."""
    crossed = {tuple(c[a] for a in FULL) for c in options.combinations()}
    extra = 0
    for axis in _others():
        usable = {c[axis.name] for c in options.combinations()}
        extra += len(usable - {options.defaults()[axis.name]})
    return len(crossed) + extra


def _allowed(names: Sequence[str]) -> Callable[[Sequence[str]], bool]:
    """allpairspy's filter for rows whose axes come in the order ``names``: a partial row breaks
    no rule it can already judge."""

    def allowed(row: Sequence[str]) -> bool:
        known = dict(zip(names, row, strict=False))
        for rule in options.RULES:
            if all(a in known for a in (*rule.when, rule.axis)) and rule.broken_by(known):
                return False
        return True

    return allowed


def pairwise() -> list[Combination]:
    """A covering array of all ten axes over the built values, respecting the rules."""
    from allpairspy import AllPairs

    # Axes with the most values first: allpairspy's greedy search then needs fewer rows.
    axes = sorted(options.AXES, key=lambda a: -len(a.built))
    names = [a.name for a in axes]
    rows = AllPairs([sorted(a.built) for a in axes], filter_func=_allowed(names))
    out: list[Combination] = []
    for row in rows:
        by_name = dict(zip(names, row, strict=True))
        combo = {name: by_name[name] for name in options.AXIS_BY_NAME}
        if combo not in out:
            out.append(combo)
    # AllPairs' greedy search under a filter can leave a pair that only some rows allow uncovered:
    # add the first valid combination holding each such pair (a few rows at most).
    for (a, va), (b, vb) in _pairs():
        if not any(c[a] == va and c[b] == vb for c in out):
            found = next((c for c in options.combinations() if c[a] == va and c[b] == vb), None)
            if found is not None:
                out.append(found)
    return out


def _pairs() -> Iterator[tuple[tuple[str, str], tuple[str, str]]]:
    for a, b in itertools.combinations(options.AXES, 2):
        for va, vb in itertools.product(sorted(a.built), sorted(b.built)):
            yield (a.name, va), (b.name, vb)


def select(name: str) -> list[Combination]:
    """One of :data:`SELECTIONS` (``all`` = every valid built combination of all ten axes)."""
    if name == "full":
        return full()
    if name == "asked":
        return asked()
    if name == "pairwise":
        return pairwise()
    if name == "all":
        return list(options.combinations())
    raise MatrixSelectionError(f"unknown selection {name!r}", hint=f"choose one of: {', '.join(SELECTIONS)}")


def parse_shard(text: str) -> tuple[int, int]:
    """``"k/N"`` (1 ≤ k ≤ N) → (k, N)."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        index = count = 0
    if not 1 <= index <= count:
        raise MatrixSelectionError(f"bad shard {text!r}", hint="write it as k/N with 1 <= k <= N, e.g. 3/20")
    return index, count


def shard(combos: Sequence[Combination], index: int, count: int) -> list[Combination]:
    """The ``index``-th of ``count`` round-robin shards (together they are ``combos``, once each)."""
    return list(combos[index - 1 :: count])


def shard_names(count: int) -> list[str]:
    return [f"{k}/{count}" for k in range(1, count + 1)]

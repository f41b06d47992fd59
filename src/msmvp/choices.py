"""What a partial set of answers allows, and what the final choices leave out.

``msmvp new`` asks one option at a time. These functions let it check each answer as it is
given: a value that is not built is never offered, and a rule between options is checked as soon
as every option it involves is answered, so nobody answers nine questions to learn the first was
impossible. Checking flags or an answers file reports every problem at once, not the first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from msmvp.errors import OptionProblemsError
from msmvp.options import AXES, AXIS_BY_NAME, RULES, Axis, Rule

if TYPE_CHECKING:
    from msmvp.evidence import ItemResult


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the answers: a message naming the options, and what to choose instead."""

    message: str
    hint: str


def _involved(rule: Rule) -> tuple[str, ...]:
    return (*rule.when, rule.axis)


def _broken(rule: Rule, answers: Mapping[str, str]) -> bool:
    """A rule is judged only once every option it involves is answered."""
    return all(a in answers for a in _involved(rule)) and rule.broken_by(answers)


def problems(answers: Mapping[str, str]) -> list[Problem]:
    """Every problem with ``answers`` (some options may still be unanswered): unknown or unbuilt
    values, and each rule whose options are all answered and which they break."""
    found: list[Problem] = []
    for name, value in answers.items():
        axis = AXIS_BY_NAME.get(name)
        if axis is None:
            found.append(Problem(f"unknown option {name!r}", f"options are: {', '.join(AXIS_BY_NAME)}"))
        elif value not in axis.values:
            found.append(
                Problem(f"{name}={value!r} is not a value of {name}", f"choose one of: {', '.join(axis.values)}")
            )
        elif value not in axis.built:
            found.append(
                Problem(
                    f"{name}={value} is planned but not built yet in this msmvp version",
                    f"choose {' or '.join(v for v in axis.values if v in axis.built)}",
                )
            )
    known = {k: v for k, v in answers.items() if k in AXIS_BY_NAME and v in AXIS_BY_NAME[k].values}
    for rule in RULES:
        if _broken(rule, known):
            chosen = ", ".join(f"{a}={known[a]}" for a in _involved(rule))
            found.append(Problem(f"{chosen}: {rule.name}", rule.hint))
    return found


def check(answers: Mapping[str, str]) -> None:
    """Raise :class:`OptionProblemsError` listing every problem with ``answers``."""
    found = problems(answers)
    if found:
        raise OptionProblemsError([(p.message, p.hint) for p in found])


def offered(axis: Axis, answers: Mapping[str, str]) -> list[str]:
    """The values of ``axis`` worth offering after ``answers``: built, and breaking no rule whose
    other options are answered already. In the axis's display order."""
    return [v for v in axis.values if v in axis.built and not problems({**answers, axis.name: v})]


def excluded(axis: Axis, answers: Mapping[str, str]) -> dict[str, str]:
    """The values of ``axis`` not offered after ``answers``, each with why (its first problem)."""
    out = {}
    for v in axis.values:
        found = problems({**answers, axis.name: v})
        if found:
            out[v] = "not built yet" if v not in axis.built else found[0].message.split(": ", 1)[-1]
    return out


def answer_problems(axis: Axis, value: str, answers: Mapping[str, str]) -> list[Problem]:
    """What is wrong with answering ``value`` for ``axis`` after ``answers`` (empty: accepted)."""
    before = {(p.message, p.hint) for p in problems(answers)}
    return [p for p in problems({**answers, axis.name: value}) if (p.message, p.hint) not in before]


def to_ask(given: Mapping[str, str]) -> list[Axis]:
    """The asked axes a user has not answered yet, in question order."""
    return [a for a in AXES if a.asked and a.name not in given]


@dataclass(frozen=True)
class NotGenerated:
    """An applicable item the chosen options generate nothing (or not enough) for, and why."""

    id: str
    title: str
    reasons: tuple[str, ...]


def _option_alternatives(result: ItemResult, options: Mapping[str, str]) -> str:
    """'iac=terraform or ansible would generate it (here iac=none)', from the item's generators."""
    from msmvp.checklist import matches

    wanted: dict[str, list[str]] = {}
    for gen in result.item.generated_by:
        if matches(gen.when, options):
            continue
        for axis, values in gen.when.items():
            if options.get(axis) not in values:
                wanted.setdefault(axis, [])
                wanted[axis] += [v for v in values if v not in wanted[axis]]
    return "; ".join(
        f"{axis}={' or '.join(values)} would generate it (here {axis}={options.get(axis)})"
        for axis, values in wanted.items()
    )


def not_generated(results: Sequence[ItemResult], options: Mapping[str, str]) -> list[NotGenerated]:
    """Applicable, non-human items whose static evidence the render does not satisfy, each with
    the option that would generate it, what is missing, and the checklist's own note."""
    out = []
    for r in results:
        if not r.applicable or r.item.human or r.scaffolded:
            continue
        reasons = []
        if alternatives := _option_alternatives(r, options):
            reasons.append(alternatives)
        failed = next((c for c in r.checks if not c.ok), None)
        if failed is not None:
            reasons.append(failed.detail or f"{failed.spec} does not hold")
        if r.item.not_generated:
            reasons.append("note: " + " ".join(r.item.not_generated.split()))
        out.append(NotGenerated(r.item.id, r.item.title, tuple(reasons)))
    return out

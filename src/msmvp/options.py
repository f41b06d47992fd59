"""The option model: every axis, its values and default, and the rules between them.

This is the one place options are defined. Prompts, CLI flags, the answers file,
validation, rendering and the combination matrix all read it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from msmvp.errors import IncompatibleOptionsError, NotBuiltError, UnknownOptionError


@dataclass(frozen=True)
class Axis:
    """One question: its values (in display order), default, help, and which values are built."""

    name: str
    values: tuple[str, ...]
    default: str
    help: str
    asked: bool = True

    @property
    def built(self) -> frozenset[str]:
        """The values that have a component folder (``templates/components/<axis>/<value>/``)."""
        from msmvp.components import available

        return frozenset(available().get(self.name, ()))


@dataclass(frozen=True)
class Rule:
    """When every axis in ``when`` has one of its values, ``axis`` must not take one of ``forbids``."""

    name: str
    when: Mapping[str, frozenset[str]]
    axis: str
    forbids: frozenset[str]
    hint: str

    def broken_by(self, options: Mapping[str, str]) -> bool:
        return all(options[a] in vals for a, vals in self.when.items()) and options[self.axis] in self.forbids


def _axis(name: str, values: str, help: str) -> Axis:
    vals = tuple(values.split())
    return Axis(name, vals, vals[0], help)


AXES: tuple[Axis, ...] = (
    _axis("protocol", "rest grpc", "synchronous service-to-service calls"),
    _axis("messaging", "none rabbitmq kafka nats", "asynchronous events between services"),
    _axis(
        "data",
        "db-per-service shared-db eventual",
        "data ownership; eventual = database per service + transactional outbox + events",
    ),
    _axis("discovery", "dns etcd consul", "how services find each other"),
    _axis("auth", "jwt api-key oidc", "authentication, always with role-based access control"),
    _axis("deploy", "both compose kubernetes", "deployment targets"),
    _axis("gateway", "envoy nginx traefik", "API gateway"),
    _axis("ci", "github gitlab jenkins circleci", "CI/CD system"),
    _axis("iac", "terraform ansible none", "infrastructure as code"),
    _axis("cache", "redis none", "response cache"),
)
AXIS_BY_NAME: dict[str, Axis] = {a.name: a for a in AXES}

RULES: tuple[Rule, ...] = (
    Rule(
        "eventual consistency needs a message broker",
        {"data": frozenset({"eventual"})},
        "messaging",
        frozenset({"none"}),
        "choose --messaging rabbitmq, kafka or nats, or --data db-per-service",
    ),
)


def defaults() -> dict[str, str]:
    """Every axis at its default value."""
    return {a.name: a.default for a in AXES}


def resolve(given: Mapping[str, str | None]) -> dict[str, str]:
    """Fill missing axes with defaults and check names and values (not rules or build state)."""
    unknown = sorted(set(given) - AXIS_BY_NAME.keys())
    if unknown:
        raise UnknownOptionError(f"unknown option {unknown[0]!r}", hint=f"options are: {', '.join(AXIS_BY_NAME)}")
    options = defaults()
    for name, value in given.items():
        if value is None:
            continue
        axis = AXIS_BY_NAME[name]
        if value not in axis.values:
            raise UnknownOptionError(
                f"{name}={value!r} is not a value of {name}", hint=f"choose one of: {', '.join(axis.values)}"
            )
        options[name] = value
    return options


def check_rules(options: Mapping[str, str]) -> None:
    """Raise :class:`IncompatibleOptionsError` naming the first rule ``options`` break."""
    for rule in RULES:
        if rule.broken_by(options):
            chosen = ", ".join(f"{a}={options[a]}" for a in (*rule.when, rule.axis))
            raise IncompatibleOptionsError(f"{chosen}: {rule.name}", hint=rule.hint)


def check_built(options: Mapping[str, str]) -> None:
    """Raise :class:`NotBuiltError` for a value that is modelled but not generated yet."""
    for axis in AXES:
        value = options[axis.name]
        if value not in axis.built:
            raise NotBuiltError(
                f"{axis.name}={value} is planned but not built yet in this msmvp version",
                hint=f"choose one of: {', '.join(v for v in axis.values if v in axis.built)}",
            )


def validate(given: Mapping[str, str | None], *, require_built: bool = True) -> dict[str, str]:
    """Resolve, then check rules and (by default) build state; return the full option set."""
    options = resolve(given)
    check_rules(options)
    if require_built:
        check_built(options)
    return options


def combinations(*, built_only: bool = True) -> Iterator[dict[str, str]]:
    """Every valid combination of the option model, in a stable order."""
    for values in itertools.product(*(sorted(a.built) if built_only else a.values for a in AXES)):
        options = dict(zip(AXIS_BY_NAME, values, strict=True))
        if not any(rule.broken_by(options) for rule in RULES):
            yield options

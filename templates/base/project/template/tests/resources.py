"""The entries the repo-level tests and the load test create: each service's resources as
msmvp.yaml declared them at generation time (tests/resources.json), with bodies that stay
valid when sent many times (unique fields get a fresh value each time).

A service is exercised through its primary resource (`first`); an entry that references others needs them
first (`creation_order`), in its own service or in a service it calls.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any


@dataclass(frozen=True, eq=False)  # one object per resource (RESOURCES): compared by identity
class Resource:
    """One resource of one service: where it lives and what a valid body looks like."""

    service: str
    name: str
    path: str
    example: dict[str, Any]
    example_other: dict[str, Any]
    refs: dict[str, tuple[str, str]]  # field -> (service, resource) it references
    unique: dict[str, dict[str, Any]]  # field -> its type, max_length, precision, scale

    @property
    def key(self) -> str:
        return f"{self.service}.{self.name}"

    @property
    def remote_refs(self) -> dict[str, str]:
        """field -> the other service it references (checked there, by a call or a read model)."""
        return {field: target[0] for field, target in self.refs.items() if target[0] != self.service}

    @property
    def callees(self) -> list[str]:
        """The other services a new entry is checked against (creating one calls each of them)."""
        return sorted(set(self.remote_refs.values()))

    def body(self, refs: Mapping[str, int], *, other: bool = False) -> dict[str, Any]:
        """A valid body with these references (field -> id) and fresh values for unique fields."""
        missing = set(self.refs) - set(refs)
        if missing:
            raise ValueError(f"{self.key} needs ids for {sorted(missing)}")
        body = dict(self.example_other if other else self.example)
        body.update({field: fresh(spec, body[field]) for field, spec in self.unique.items()})
        body.update(refs)
        return body


def fresh(spec: Mapping[str, Any], example: Any) -> Any:
    """A value of the unique field described by `spec`, unlikely to have been sent before."""
    kind = spec["type"]
    if kind in _FRESH:
        return _FRESH[kind](spec, example)
    tag = uuid.uuid4().hex[:10]
    room = max((spec["max_length"] or 255) - len(tag) - 1, 0)
    return f"{example[:room]}{'/' if kind == 'url' else '-'}{tag}"  # string, text, url


def _decimal(spec: Mapping[str, Any], _example: Any) -> str:
    value = str(random.randint(0, 10 ** (spec["precision"] - spec["scale"]) - 1))
    return f"{value}.{'0' * spec['scale']}" if spec["scale"] else value


def _date() -> str:
    return (date(2000, 1, 1) + timedelta(days=random.randrange(100_000))).isoformat()


_FRESH: dict[str, Callable[[Mapping[str, Any], Any], Any]] = {
    "uuid": lambda _spec, _example: str(uuid.uuid4()),
    "email": lambda _spec, example: f"{uuid.uuid4().hex[:10]}.{example}",
    "integer": lambda _spec, _example: random.randrange(1, 2**53),
    "decimal": _decimal,
    "date": lambda _spec, _example: _date(),
    "datetime": lambda _spec, _example: f"{_date()}T{random.randrange(24):02}:{random.randrange(60):02}:00Z",
}


def _load() -> dict[str, list[Resource]]:
    data = json.loads(Path(__file__).with_name("resources.json").read_text())
    return {
        service: [
            Resource(
                service=service,
                name=entry["name"],
                path=entry["path"],
                example=entry["example"],
                example_other=entry["example_other"],
                refs={field: (target[0], target[1]) for field, target in entry["refs"].items()},
                unique=entry["unique"],
            )
            for entry in entries
        ]
        for service, entries in data.items()
    }


BY_SERVICE = _load()
RESOURCES = {r.key: r for entries in BY_SERVICE.values() for r in entries}


def first(service: str) -> Resource:
    """The resource the repo-level tests exercise `service` through: its primary resource, the
    first that needs no other entry of its own service (msmvp makes sure there is one)."""
    entries = BY_SERVICE[service]
    return next((r for r in entries if all(target[0] != service for target in r.refs.values())), entries[0])


def creation_order(resource: Resource, _path: tuple[str, ...] = ()) -> list[Resource]:
    """The resources to create before `resource` (what it references, theirs first), then it."""
    if resource.key in _path:
        raise RuntimeError(f"references go round: {' -> '.join((*_path, resource.key))}")
    order: list[Resource] = []
    for service, name in resource.refs.values():
        for needed in creation_order(RESOURCES[f"{service}.{name}"], (*_path, resource.key)):
            if needed not in order:
                order.append(needed)
    return [*order, resource]

"""Eventual consistency under crashes, on the running stack and its real broker.

A caller keeps a read model of a service it references, fed by that service's events through
its outbox and relay. Here the relay (run as its own process for the test) and the caller (the
consumer) are killed with SIGKILL and restarted while entries of the referenced service are
created, changed and deleted. Afterwards every event the writes stored has been applied by the
caller exactly once, and its read model equals the source: the same live entries with the same
data, every deleted one marked deleted.

It restarts services and waits for a broker's consumer group to take a killed member's place,
so it runs in its own tier, `make test-consistency` (CONSISTENCY_TESTS=1), not in `make test`.

The backfill (`make backfill`) is proven here too: entries written while their events never
reached the caller (published nowhere, as if lost past the broker's retention) become known to
its read model, one deleted meanwhile is marked deleted, and the events after it (a rename, a
deletion) still win; a second backfill changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts import credentials
from scripts.backfill import backfill
from scripts.dev import REFERENCE_SOURCE, SERVICES, ServiceSpec, Stack

from ..resources import BY_SERVICE, RESOURCES, Resource, fresh

pytestmark = [
    pytest.mark.integration,
    pytest.mark.failure,
    pytest.mark.skipif(
        os.environ.get("CONSISTENCY_TESTS") != "1", reason="restarts services: make test-consistency runs it"
    ),
]

BY_NAME = {svc.name: svc for svc in SERVICES}


@dataclass(frozen=True)
class Pair:
    """A read model under test: `caller`'s `resource` references `target` (another service's
    resource, made without references of its own) through `field`."""

    caller: ServiceSpec
    resource: Resource
    field: str
    target: Resource

    @property
    def callee(self) -> ServiceSpec:
        return BY_NAME[self.target.service]


def _find_pair() -> Pair | None:
    for svc in SERVICES:
        for resource in BY_SERVICE[svc.name]:
            for field, (service, name) in resource.refs.items():
                target = RESOURCES[f"{service}.{name}"]
                if service != svc.name and not target.refs:
                    return Pair(svc, resource, field, target)
    return None


PAIR = _find_pair()
MERGE_PATCH = "application/merge-patch+json"
RESTART_TIMEOUT = 120.0


def _sqlite(stack: Stack, svc: ServiceSpec) -> Path:
    url = stack.database_url(svc)
    if not url.startswith("sqlite:///"):
        pytest.skip("the consistency check reads the stack's SQLite files")
    return Path(url.removeprefix("sqlite:///"))


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path, timeout=10.0)) as db:
        return db.execute(sql).fetchall()


def _kill(stack: Stack, name: str) -> None:
    """SIGKILL, as a crash: no shutdown code runs."""
    proc = stack.processes.pop(name)
    os.kill(proc.popen.pid, signal.SIGKILL)
    proc.popen.wait(timeout=10)


@contextlib.contextmanager
def _service_env(stack: Stack, **env: str) -> Iterator[None]:
    saved = dict(stack.extra_env)
    stack.extra_env.update(env)
    try:
        yield
    finally:
        stack.extra_env.clear()
        stack.extra_env.update(saved)


def _start_relay(stack: Stack, svc: ServiceSpec) -> None:
    env = {**stack.service_env(svc), "OUTBOX_POLL_SECONDS": "0.1"}
    stack._spawn(f"{svc.name}-relay", [sys.executable, "-m", f"{svc.package}.relay"], cwd=svc.directory, env=env)


class Writer:
    """Creates, renames and deletes entries of one resource through its service's API, remembering the live ones."""

    def __init__(self, stack: Stack, resource: Resource, token: str) -> None:
        self.client = httpx.Client(base_url=stack.service_url(resource.service), headers=credentials.header(token))
        self.resource = resource
        self.path = resource.path
        self.live: list[int] = []
        # A rename changes the first field whose two example values differ, else a unique one.
        example, other = resource.example, resource.example_other
        plain = [f for f, v in example.items() if f not in resource.unique and other.get(f) != v]
        self.field = plain[0] if plain else next(iter(resource.unique))
        self.renamed = resource.example_other[self.field]

    def rename(self) -> dict[str, Any]:
        """A merge patch of the renamed field (a unique one gets a fresh value each time)."""
        if self.field in self.resource.unique:
            self.renamed = fresh(self.resource.unique[self.field], self.resource.example[self.field])
        return {self.field: self.renamed}

    def __call__(self, creates: int, deletes: int = 0, renames: int = 0) -> None:
        for _ in range(creates):
            response = self.client.post(self.path, json=self.resource.body({}))
            assert response.status_code == 201, response.text
            self.live.append(response.json()["id"])
        for entity_id in self.live[:renames]:
            patch = self.rename()
            url = f"{self.path}/{entity_id}"
            renamed = self.client.patch(url, json=patch, headers={"Content-Type": MERGE_PATCH})
            assert renamed.status_code == 200, renamed.text
        for _ in range(deletes):
            assert self.client.delete(f"{self.path}/{self.live.pop(0)}").status_code == 204

    def entries(self) -> dict[int, dict[str, Any]]:
        """Every entry the service has now, as its API shows it."""
        entries: dict[int, dict[str, Any]] = {}
        while True:
            page = self.client.get(self.path, params={"limit": 100, "offset": len(entries)}).json()
            entries.update({item["id"]: item for item in page["items"]})
            if len(entries) >= page["total"] or not page["items"]:
                return entries


def _restart(stack: Stack, svc: ServiceSpec, **env: str) -> None:
    stack.stop_service(svc.name)
    with _service_env(stack, **env):
        stack.start_service(svc.name)


def _unpublished(source_db: Path) -> int:
    return int(_rows(source_db, "SELECT count(*) FROM event_outbox WHERE published_at IS NULL")[0][0])


def _source(pair: Pair) -> tuple[str, str]:
    """The caller's read model of the target (its `source`) and the target's event types' prefix,
    from the caller's `events.CONSUMED` (event type -> source)."""
    code = f"import json; from {pair.caller.package}.events import CONSUMED; print(json.dumps(CONSUMED))"
    found = subprocess.run(  # noqa: S603 - this interpreter, the project's own code
        [sys.executable, "-c", code], cwd=pair.caller.directory, capture_output=True, text=True, check=True
    )
    service, name = pair.target.service, pair.target.name
    for event_type, source in json.loads(found.stdout).items():
        if source in (service, f"{service}.{name}") and event_type.startswith(f"{service}."):
            return source, event_type.rsplit(".", 2)[0]
    raise AssertionError(f"{pair.caller.name} consumes no events of {service}.{name}")


def _assert_consistent(source_db: Path, caller_db: Path, source: tuple[str, str], writer: Writer) -> None:
    name, channel = source
    # Exactly once: per entry, the events applied equal the events its writes stored.
    stored = dict(
        _rows(source_db, f"SELECT subject, count(*) FROM event_outbox WHERE type LIKE '{channel}.%' GROUP BY subject")  # noqa: S608
    )
    columns = "entity_id, deleted, events_applied, data"
    model = _rows(caller_db, f"SELECT {columns} FROM read_models WHERE source = '{name}'")  # noqa: S608
    assert {str(entity_id): applied for entity_id, _deleted, applied, _data in model} == stored
    inbox = [row[0] for row in _rows(caller_db, "SELECT type FROM event_inbox")]
    assert len([t for t in inbox if t.startswith(f"{channel}.")]) == sum(stored.values())

    # The read model equals the source: every live entry with its current data, the rest deleted.
    source = writer.entries()
    assert set(writer.live) <= set(source)
    known = {entity_id: json.loads(data) for entity_id, deleted, _applied, data in model if not deleted}
    assert known == source
    assert {entity_id for entity_id, deleted, _a, _d in model if deleted} == {int(s) for s in stored} - set(source)


NO_READ_MODEL = PAIR is None or REFERENCE_SOURCE == "api"


def _pair(stack: Stack) -> tuple[ServiceSpec, ServiceSpec, Path, Path]:
    """(caller, callee, the callee's database, the caller's database): the read model under test."""
    assert PAIR is not None
    return PAIR.caller, PAIR.callee, _sqlite(stack, PAIR.callee), _sqlite(stack, PAIR.caller)


@pytest.mark.skipif(NO_READ_MODEL, reason="no service keeps a read model of another")
def test_read_models_converge_while_the_relay_and_a_consumer_crash(
    stack: Stack, token: Callable[..., str], poll: Callable[..., bool]
) -> None:
    caller, callee, source_db, caller_db = _pair(stack)
    assert PAIR is not None
    relay = f"{callee.name}-relay"
    write = Writer(stack, PAIR.target, token("admin"))

    # The callee stores its events but no longer relays them itself: the relay is its own process.
    _restart(stack, callee, OUTBOX_RELAY_EMBEDDED="false")
    try:
        _start_relay(stack, callee)
        write(creates=4, deletes=1, renames=1)
        _kill(stack, caller.name)  # the consumer crashes; its durable subscription keeps the events
        write(creates=3, deletes=2, renames=2)
        _kill(stack, relay)  # the relay crashes too: the writes go on into the outbox only
        write(creates=3, deletes=1, renames=1)
        assert _unpublished(source_db) > 0, "the writes after the relay died should wait in the outbox"
        _start_relay(stack, callee)
        write(creates=2, deletes=1)
        _kill(stack, relay)  # and once more, wherever it was
        _start_relay(stack, callee)
        # A broker's consumer group may first wait out the killed member's session: allow for it.
        stack.start_service(caller.name, timeout=RESTART_TIMEOUT)
        write(creates=1, renames=1)

        channel = _source(PAIR)[1]

        def converged() -> bool:
            sql = f"SELECT event_id FROM event_outbox WHERE type LIKE '{channel}.%'"  # noqa: S608
            stored = {row[0] for row in _rows(source_db, sql)}
            applied = {row[0] for row in _rows(caller_db, "SELECT event_id FROM event_inbox")}
            return _unpublished(source_db) == 0 and stored <= applied

        assert poll(converged, timeout=RESTART_TIMEOUT), "the caller did not apply every stored event"
        _assert_consistent(source_db, caller_db, _source(PAIR), write)
    finally:
        write.client.close()
        with contextlib.suppress(KeyError):
            stack.stop_service(relay)
        if caller.name not in stack.processes:
            stack.start_service(caller.name, timeout=RESTART_TIMEOUT)
        stack.stop_service(callee.name)
        stack.start_service(callee.name)


def _model(caller_db: Path, source: str) -> dict[int, tuple[bool, int, dict[str, Any]]]:
    """The caller's read model `source`: id -> (deleted, events applied, data)."""
    sql = f"SELECT entity_id, deleted, events_applied, data FROM read_models WHERE source = '{source}'"  # noqa: S608
    return {row[0]: (bool(row[1]), row[2], json.loads(row[3])) for row in _rows(caller_db, sql)}


@pytest.mark.skipif(NO_READ_MODEL, reason="no service keeps a read model of another")
def test_a_backfill_fills_a_read_model_that_missed_the_events(
    stack: Stack, token: Callable[..., str], poll: Callable[..., bool], api: Any
) -> None:
    caller, callee, source_db, caller_db = _pair(stack)
    assert PAIR is not None
    read_model, _channel = _source(PAIR)
    write = Writer(stack, PAIR.target, token("admin"))
    references = httpx.Client(base_url=stack.service_url(caller.name), headers=credentials.header(token("writer")))
    refs = api.references(PAIR.resource)  # the entry's other references, known to the caller

    def refer(entity_id: int) -> int:
        """The caller's answer to a new entry referencing `entity_id` (its other references known)."""
        body = PAIR.resource.body({**refs, PAIR.field: entity_id})
        return references.post(PAIR.resource.path, json=body).status_code

    try:
        write(creates=1)  # relayed as usual: the caller knows it
        gone = write.live[0]
        assert poll(lambda: gone in _model(caller_db, read_model), timeout=30.0)

        # Events lost: the callee stores them but nothing relays them, then they count as published.
        _restart(stack, callee, OUTBOX_RELAY_EMBEDDED="false")
        write(creates=5, renames=2)
        assert write.client.delete(f"{write.path}/{gone}").status_code == 204
        write.live.remove(gone)
        with contextlib.closing(sqlite3.connect(source_db, timeout=10.0)) as db:
            db.execute("UPDATE event_outbox SET published_at = CURRENT_TIMESTAMP WHERE published_at IS NULL")
            db.commit()
        missed = write.live[-5:]
        assert not set(missed) & set(_model(caller_db, read_model))
        assert refer(missed[0]) == 422

        result = backfill(stack, caller.name)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        model, source = _model(caller_db, read_model), write.entries()
        for entity_id in missed:
            assert model[entity_id] == (False, 0, source[entity_id])  # the API's entry, no event applied
        assert model[gone][0], "the entry deleted while its event was lost is still known"
        assert refer(missed[0]) == 201

        # Events after the backfill are newer than what it wrote: a rename and a deletion win.
        _restart(stack, callee)
        renamed, deleted = missed[1], missed[2]
        patch = write.client.patch(
            f"{write.path}/{renamed}", json=write.rename(), headers={"Content-Type": MERGE_PATCH}
        )
        assert patch.status_code == 200, patch.text
        assert write.client.delete(f"{write.path}/{deleted}").status_code == 204

        def applied() -> bool:
            now = _model(caller_db, read_model)
            return now[deleted][0] and now[renamed][2][write.field] == write.renamed

        assert poll(applied, timeout=30.0), "the events after the backfill were not applied"
        assert refer(deleted) == 422
        before = _model(caller_db, read_model)
        again = backfill(stack, caller.name)
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
        assert " 0 written, 0 marked deleted" in again.stdout, again.stdout[-2000:]
        assert _model(caller_db, read_model) == before
    finally:
        write.client.close()
        references.close()
        _restart(stack, callee)

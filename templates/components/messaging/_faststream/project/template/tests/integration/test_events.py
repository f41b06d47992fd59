"""Events across services through the real broker that the stack runs (scripts/broker.py).

Deleting an entry in one service reaches every service that references it: the consumer applies
the `deleted` event once, and records its entries that point at the deleted one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import httpx
import pytest

from scripts.dev import SERVICES, ServiceSpec, Stack

CALLERS = [svc for svc in SERVICES if svc.calls]
MODULES = {svc.name: svc.module for svc in SERVICES}
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CALLERS, reason="no service calls another one"),
]


def _resource(name: str) -> str:
    return name[:-1] if name.endswith("s") else name


def _consumed(stack: Stack, svc: ServiceSpec, event_type: str) -> float:
    """events_consumed_total{outcome="applied"} of `svc` for `event_type`, from its /metrics."""
    text = httpx.get(stack.metrics_url(svc.name), timeout=5.0).text
    wanted = ('outcome="applied"', f'type="{event_type}"')
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("events_consumed_total{") and all(label in line for label in wanted)
    )


@pytest.mark.parametrize("caller", CALLERS, ids=[svc.name for svc in CALLERS])
def test_a_deleted_reference_reaches_the_services_that_reference_it(
    caller: ServiceSpec, api, stack: Stack, poll: Callable[..., bool]
) -> None:
    refs = api.references(caller)  # {field: id}; the default item's field for a callee is <module>_id
    entry_id = api.create_id(caller, refs)
    ids = {callee: refs[f"{MODULES[callee]}_id"] for callee in caller.calls}
    for callee in caller.calls:
        event_type = f"{callee}.{_resource(callee)}.deleted.v1"
        before = _consumed(stack, caller, event_type)
        deleted = api.client.delete(f"/api/v1/{callee}/{ids[callee]}", headers=api.headers("admin"))
        assert deleted.status_code == 204, deleted.text
        applied = poll(lambda t=event_type, n=before: _consumed(stack, caller, t) == n + 1, timeout=30.0)
        assert applied, f"{caller.name} did not apply {event_type}"
        database = stack.database_url(caller)
        if database.startswith("sqlite:///"):
            with sqlite3.connect(database.removeprefix("sqlite:///")) as db:
                rows = db.execute(
                    "SELECT item_id, field, entity_id FROM dangling_references WHERE entity_id = ? AND field = ?",
                    (ids[callee], f"{MODULES[callee]}_id"),
                ).fetchall()
            assert (entry_id, f"{MODULES[callee]}_id", ids[callee]) in rows

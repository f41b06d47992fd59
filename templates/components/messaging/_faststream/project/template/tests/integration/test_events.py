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

from ..resources import RESOURCES, first

# The services whose primary resource references another service's entries.
CALLERS = [svc for svc in SERVICES if first(svc.name).remote_refs]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CALLERS, reason="no service references another one"),
]


def _deletes_applied(stack: Stack, svc: ServiceSpec, source: str) -> float:
    """events_consumed_total{outcome="applied"} of `svc` for the `deleted` events of `source`'s
    resources (`<source>.<resource>.deleted.v1`), from its /metrics."""
    text = httpx.get(stack.metrics_url(svc.name), timeout=5.0).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("events_consumed_total{")
        and 'outcome="applied"' in line
        and f'type="{source}.' in line
        and '.deleted.v1"' in line
    )


@pytest.mark.parametrize("caller", CALLERS, ids=[svc.name for svc in CALLERS])
def test_a_deleted_reference_reaches_the_services_that_reference_it(
    caller: ServiceSpec, api, stack: Stack, poll: Callable[..., bool]
) -> None:
    resource = first(caller.name)
    refs = api.references(caller)  # {field: id}
    entry_id = api.create_id(caller, refs)
    # The referenced entries (a target referenced by two fields is one entry): key, id -> fields.
    targets: dict[tuple[str, int], list[str]] = {}
    for field in resource.remote_refs:
        targets.setdefault((".".join(resource.refs[field]), refs[field]), []).append(field)
    for (key, target_id), fields in targets.items():
        target = RESOURCES[key]
        before = _deletes_applied(stack, caller, target.service)
        deleted = api.client.delete(f"{target.path}/{target_id}", headers=api.headers("admin"))
        assert deleted.status_code == 204, deleted.text
        applied = poll(lambda s=target.service, n=before: _deletes_applied(stack, caller, s) == n + 1, timeout=30.0)
        assert applied, f"{caller.name} did not apply the deletion of {key} {target_id}"
        database = stack.database_url(caller)
        if database.startswith("sqlite:///"):
            with sqlite3.connect(database.removeprefix("sqlite:///")) as db:
                rows = db.execute(
                    "SELECT item_id, field FROM dangling_references WHERE entity_id = ?", (target_id,)
                ).fetchall()
            # The field is recorded as `<resource>.<field>` (a declared resource's) or `<field>`.
            recorded = {(item_id, name.rsplit(".", 1)[-1]) for item_id, name in rows}
            assert {(entry_id, field) for field in fields} <= recorded, rows

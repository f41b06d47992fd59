"""Flows across services through the gateway: a caller checks its references in the callee.

A service is a caller here when its first resource references another service's (tests/resources.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest

from scripts.dev import REFERENCE_SOURCE, SERVICES, ServiceSpec, Stack

from ..resources import first

CALLERS = [svc for svc in SERVICES if first(svc.name).remote_refs]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CALLERS, reason="no service calls another one"),
]
CALLER_IDS = [svc.name for svc in CALLERS]


@pytest.mark.parametrize("caller", CALLERS, ids=CALLER_IDS)
def test_create_with_existing_references(caller: ServiceSpec, api) -> None:
    refs = api.references(caller)
    response = api.create(caller, refs)
    assert response.status_code == 201, response.text
    created = response.json()
    path = f"{first(caller.name).path}/{created['id']}"
    fetched = api.client.get(path, headers=api.headers("reader"))
    assert fetched.status_code == 200
    assert fetched.json() == created
    assert response.headers["location"].endswith(path)


@pytest.mark.parametrize("caller", CALLERS, ids=CALLER_IDS)
def test_missing_reference_is_rejected(caller: ServiceSpec, api) -> None:
    refs = api.references(caller)
    for field in first(caller.name).remote_refs:
        response = api.create(caller, {**refs, field: 999_999_999})
        assert response.status_code == 422, response.text
        assert [error["type"] for error in response.json()["errors"]] == ["unknown_reference"]


@pytest.mark.parametrize("caller", CALLERS, ids=CALLER_IDS)
@pytest.mark.skipif(REFERENCE_SOURCE != "api", reason="references are checked locally: no call to follow")
def test_request_id_follows_the_call_chain(caller: ServiceSpec, api, stack: Stack, poll: Callable[..., bool]) -> None:
    refs = api.references(caller)
    request_id = str(uuid.uuid4())
    resource = first(caller.name)
    response = api.client.post(
        resource.path, json=resource.body(refs), headers={**api.headers("writer"), "X-Request-ID": request_id}
    )
    assert response.status_code == 201, response.text
    for callee in resource.callees:
        assert poll(lambda callee=callee: _logged(stack, callee, request_id)), f"{callee} never saw {request_id}"


def _logged(stack: Stack, process: str, request_id: str) -> bool:
    for line in stack.log_path(process).read_text().splitlines():
        if line.startswith("{") and json.loads(line).get("request_id") == request_id:
            return True
    return False

"""The running stack finds its services through etcd: every service registered, callers resolve there."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from scripts.dev import PROJECT, SERVICES, Stack

from ..resources import first

pytestmark = pytest.mark.integration

PREFIX = f"/{PROJECT}/services/"
# A caller whose primary resource references the callee's entries, so creating one calls it.
PAIR = next(((svc, callee) for svc in SERVICES for callee in first(svc.name).callees), None)


def _registered(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every key under the prefix, read through etcd's v3 JSON gateway."""
    key = PREFIX.encode()
    range_end = key[:-1] + bytes([key[-1] + 1])  # the prefix's range: up to the next key

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    client_port = stack.registry_ports[0]  # type: ignore[attr-defined]
    response = httpx.post(
        f"http://127.0.0.1:{client_port}/v3/kv/range", json={"key": b64(key), "range_end": b64(range_end)}, timeout=5.0
    )
    response.raise_for_status()
    return {
        base64.b64decode(kv["key"]).decode(): json.loads(base64.b64decode(kv["value"]))
        for kv in response.json().get("kvs", [])
    }


def test_every_service_registered_its_local_port_and_is_ready(stack: Stack) -> None:
    registered = _registered(stack)
    for svc in SERVICES:
        mine = [value for key, value in registered.items() if key.startswith(f"{PREFIX}{svc.name}/")]
        # A set: an instance an earlier stack test killed (SIGKILL: no deregistration) keeps its
        # key until its lease's TTL runs out, next to the instance restarted on the same port.
        assert {(value["host"], value["ports"]["http"]) for value in mine} == {("127.0.0.1", stack.ports[svc.name])}
        ready = httpx.get(f"{stack.service_url(svc.name)}/readyz", timeout=5.0).json()
        assert ready["discovery"] == "ok", ready


@pytest.mark.skipif(PAIR is None, reason="no service calls another one")
def test_a_caller_knows_its_callee_from_etcd_and_calls_it(stack: Stack, api: Any) -> None:
    assert PAIR is not None
    caller, callee = PAIR
    assert api.create(caller, api.references(caller)).status_code == 201
    metrics = httpx.get(stack.metrics_url(caller.name), timeout=5.0).text
    assert f'discovery_instances{{callee="{callee}",service="{caller.name}"}} 1.0' in metrics
    assert f'discovery_registry_up{{service="{caller.name}"}} 1.0' in metrics

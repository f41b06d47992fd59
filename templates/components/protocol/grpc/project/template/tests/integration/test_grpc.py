"""gRPC across the running stack: every service serves its contract on its gRPC port (with the
stack's tokens), reads and writes its primary resource, and a caller's reference checks reach its
callees over gRPC, not HTTP."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from importlib import import_module
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from scripts.calls import grpc_port
from scripts.dev import REFERENCE_SOURCE, SERVICES, ServiceSpec, Stack

from ..resources import RESOURCES, Resource, first

pytestmark = pytest.mark.integration
CALLERS = [svc for svc in SERVICES if svc.calls]


def _stubs(svc: ServiceSpec) -> tuple[Any, Any]:
    return (
        import_module(f"{svc.package}.protos.{svc.module}_pb2"),
        import_module(f"{svc.package}.protos.{svc.module}_pb2_grpc"),
    )


def _message(resource: Resource) -> str:
    """The resource's message name (`Item`, `OrderLine`): Get<message>, <message>Input, ..."""
    return "".join(part.capitalize() for part in resource.name.split("_"))


def _input(pb: Any, resource: Resource, body: dict[str, Any]) -> Any:
    """A JSON body as the resource's input message (a JSON object as its text, null fields unset)."""
    values = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in body.items() if v is not None}
    return getattr(pb, f"{_message(resource)}Input")(**values)


def _handled(stack: Stack, svc: ServiceSpec, code: str, method: str) -> float:
    text = httpx.get(stack.metrics_url(svc.name), timeout=5.0).text
    pattern = rf'grpc_server_handled_total\{{grpc_code="{code}",grpc_method="{method}",service="{svc.name}"\}} (\S+)'
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


@pytest.mark.parametrize("svc", SERVICES, ids=[svc.name for svc in SERVICES])
def test_each_service_serves_its_contract_and_health(svc: ServiceSpec, stack: Stack, api: Any) -> None:
    entry = api.create(svc, api.references(svc))
    assert entry.status_code == 201, entry.text
    pb, pb_grpc = _stubs(svc)
    service = next(name for name in dir(pb_grpc) if name.endswith("ServiceStub"))
    resource = first(svc.name)
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port(stack, svc.name)}") as channel:
        stub = getattr(pb_grpc, service)(channel)
        get, request = getattr(stub, f"Get{_message(resource)}"), getattr(pb, f"Get{_message(resource)}Request")
        metadata = [(name.lower(), value) for name, value in api.headers("reader").items()]
        answer = get(request(id=entry.json()["id"]), metadata=metadata, timeout=5)
        assert getattr(answer, resource.name).id == entry.json()["id"]
        assert answer.etag == entry.headers["ETag"], "the same version as the HTTP API's"
        with pytest.raises(grpc.RpcError) as refused:
            get(request(id=entry.json()["id"]), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("svc", SERVICES, ids=[svc.name for svc in SERVICES])
def test_each_service_writes_over_grpc_as_over_http(svc: ServiceSpec, stack: Stack, api: Any) -> None:
    """Create (idempotent), update with the version read, refused with a stale one, delete as admin:
    the HTTP API sees every change (the same database, cache and rules)."""
    pb, pb_grpc = _stubs(svc)
    service = next(name for name in dir(pb_grpc) if name.endswith("ServiceStub"))
    resource = first(svc.name)
    refs = api.references(svc)  # {field: id}, as the resource's input names them
    url, noun, field = resource.path, _message(resource), resource.name

    def metadata(role: str) -> list[tuple[str, str]]:
        return [(name.lower(), value) for name, value in api.headers(role).items()]

    def call(verb: str, role: str, **request: Any) -> Any:
        method = getattr(getattr(pb_grpc, service)(channel), f"{verb}{noun}")
        return method(getattr(pb, f"{verb}{noun}Request")(**request), metadata=metadata(role), timeout=10)

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port(stack, svc.name)}") as channel:
        create = {field: _input(pb, resource, resource.body(refs)), "idempotency_key": uuid.uuid4().hex}
        created = call("Create", "writer", **create)
        entry_id = getattr(created, field).id
        assert getattr(call("Create", "writer", **create), field).id == entry_id, "replayed"
        over_http = api.client.get(f"{url}/{entry_id}", headers=api.headers("reader"))
        assert over_http.status_code == 200 and over_http.headers["ETag"] == created.etag, over_http.text

        change = resource.body(refs, other=True)
        update = {"id": entry_id, field: _input(pb, resource, change), "etag": created.etag}
        updated = call("Update", "writer", **update)
        now = api.client.get(f"{url}/{entry_id}", headers=api.headers("reader"))
        assert now.headers["ETag"] == updated.etag != created.etag, now.text
        with pytest.raises(grpc.RpcError) as stale:
            call("Update", "writer", **update)
        assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        delete = {"id": entry_id, "etag": updated.etag}
        with pytest.raises(grpc.RpcError) as writer:
            call("Delete", "writer", **delete)
        assert writer.value.code() == grpc.StatusCode.PERMISSION_DENIED
        call("Delete", "admin", **delete)
        assert api.client.get(f"{url}/{entry_id}", headers=api.headers("reader")).status_code == 404


@pytest.mark.skipif(not CALLERS, reason="no service calls another one")
@pytest.mark.skipif(REFERENCE_SOURCE != "api", reason="references are checked locally: no call to follow")
@pytest.mark.parametrize("caller", CALLERS, ids=[svc.name for svc in CALLERS])
def test_reference_checks_go_over_grpc(caller: ServiceSpec, stack: Stack, api: Any, poll: Callable[..., bool]) -> None:
    resource = first(caller.name)
    # The resource each reference of the caller's primary resource names, in its own service.
    targets = {RESOURCES[".".join(target)] for target in resource.refs.values() if target[0] != caller.name}
    refs = api.references(caller)

    def handled(target: Resource) -> float:
        return _handled(stack, _service(target.service), "OK", f"Get{_message(target)}")

    before = {t.key: handled(t) for t in targets}
    assert api.create(caller, refs).status_code == 201
    for t in targets:
        assert poll(lambda t=t: handled(t) > before[t.key]), f"{t.service} got no Get{_message(t)}"


def _service(name: str) -> ServiceSpec:
    return next(svc for svc in SERVICES if svc.name == name)

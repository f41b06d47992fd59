"""gRPC across the running stack: every service serves its contract on its gRPC port (with the
stack's tokens), reads and writes, and a caller's reference checks reach its callees over gRPC,
not HTTP."""

from __future__ import annotations

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

pytestmark = pytest.mark.integration
CALLERS = [svc for svc in SERVICES if svc.calls]


def _stubs(svc: ServiceSpec) -> tuple[Any, Any]:
    return (
        import_module(f"{svc.package}.protos.{svc.module}_pb2"),
        import_module(f"{svc.package}.protos.{svc.module}_pb2_grpc"),
    )


def _handled(stack: Stack, svc: ServiceSpec, code: str) -> float:
    text = httpx.get(stack.metrics_url(svc.name), timeout=5.0).text
    pattern = rf'grpc_server_handled_total\{{grpc_code="{code}",grpc_method="GetItem",service="{svc.name}"\}} (\S+)'
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


@pytest.mark.parametrize("svc", SERVICES, ids=[svc.name for svc in SERVICES])
def test_each_service_serves_its_contract_and_health(svc: ServiceSpec, stack: Stack, api: Any) -> None:
    entry = api.create(svc, api.references(svc))
    assert entry.status_code == 201, entry.text
    pb, pb_grpc = _stubs(svc)
    service = next(name for name in dir(pb_grpc) if name.endswith("ServiceStub"))
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port(stack, svc.name)}") as channel:
        stub = getattr(pb_grpc, service)(channel)
        metadata = [(name.lower(), value) for name, value in api.headers("reader").items()]
        answer = stub.GetItem(pb.GetItemRequest(id=entry.json()["id"]), metadata=metadata, timeout=5)
        assert answer.item.name == entry.json()["name"]
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetItem(pb.GetItemRequest(id=entry.json()["id"]), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("svc", SERVICES, ids=[svc.name for svc in SERVICES])
def test_each_service_writes_over_grpc_as_over_http(svc: ServiceSpec, stack: Stack, api: Any) -> None:
    """Create (idempotent), update with the version read, refused with a stale one, delete as admin:
    the HTTP API sees every change (the same database, cache and rules)."""
    pb, pb_grpc = _stubs(svc)
    service = next(name for name in dir(pb_grpc) if name.endswith("ServiceStub"))
    refs = api.references(svc)  # {field: id}, as the item's input names them
    url = f"/api/v1/{svc.name}"

    def metadata(role: str) -> list[tuple[str, str]]:
        return [(name.lower(), value) for name, value in api.headers(role).items()]

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port(stack, svc.name)}") as channel:
        stub = getattr(pb_grpc, service)(channel)
        item = pb.ItemInput(name="written over gRPC", **refs)
        create = pb.CreateItemRequest(item=item, idempotency_key=uuid.uuid4().hex)
        created = stub.CreateItem(create, metadata=metadata("writer"), timeout=10)
        assert stub.CreateItem(create, metadata=metadata("writer"), timeout=10).item.id == created.item.id
        over_http = api.client.get(f"{url}/{created.item.id}", headers=api.headers("reader"))
        assert over_http.status_code == 200 and over_http.headers["ETag"] == created.etag, over_http.text

        update = pb.UpdateItemRequest(
            id=created.item.id, item=pb.ItemInput(name="changed over gRPC", **refs), etag=created.etag
        )
        updated = stub.UpdateItem(update, metadata=metadata("writer"), timeout=10)
        assert api.client.get(f"{url}/{created.item.id}", headers=api.headers("reader")).json()["name"] == (
            "changed over gRPC"
        )
        with pytest.raises(grpc.RpcError) as stale:
            stub.UpdateItem(update, metadata=metadata("writer"), timeout=10)
        assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        delete = pb.DeleteItemRequest(id=created.item.id, etag=updated.etag)
        with pytest.raises(grpc.RpcError) as writer:
            stub.DeleteItem(delete, metadata=metadata("writer"), timeout=10)
        assert writer.value.code() == grpc.StatusCode.PERMISSION_DENIED
        stub.DeleteItem(delete, metadata=metadata("admin"), timeout=10)
        assert api.client.get(f"{url}/{created.item.id}", headers=api.headers("reader")).status_code == 404


@pytest.mark.skipif(not CALLERS, reason="no service calls another one")
@pytest.mark.skipif(REFERENCE_SOURCE != "api", reason="references are checked locally: no call to follow")
@pytest.mark.parametrize("caller", CALLERS, ids=[svc.name for svc in CALLERS])
def test_reference_checks_go_over_grpc(caller: ServiceSpec, stack: Stack, api: Any, poll: Callable[..., bool]) -> None:
    callees = [svc for svc in SERVICES if svc.name in caller.calls]
    refs = api.references(caller)
    before = {svc.name: _handled(stack, svc, "OK") for svc in callees}
    assert api.create(caller, refs).status_code == 201
    for svc in callees:
        assert poll(lambda svc=svc: _handled(stack, svc, "OK") > before[svc.name]), f"{svc.name} got no GetItem"

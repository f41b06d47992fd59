"""The whole stack for the repo-level tests: every service and the real gateway, once per session.

`scripts/dev.py`'s `Stack` starts it on free loopback ports with its own work directory, so the
tests never touch `.dev/` and can run next to `make dev`. The integration and failure tests
share it; each test that breaks something puts it back.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from scripts import credentials
from scripts import gateway as gateway_impl
from scripts.dev import REFERENCE_SOURCE, SERVERS, SERVICES, ServiceSpec, Stack, StackError

from . import resources
from .resources import Resource

# Small token buckets (burst, per second) so the rate-limit tests need few requests; the
# refill is slow enough that a client sending through a service (tens of ms a request, 8 at a
# time) empties its bucket within a second; the other tests stay far below it (about 50
# requests in all, most under one subject).
RATE_LIMIT = (100, 25)
# Fast failure handling, so the failure tests take seconds, not minutes.
FAILURE_SETTINGS = {
    "BREAKER_FAIL_MAX": "3",
    "BREAKER_RESET_TIMEOUT_SECONDS": "1",
    "HTTP_RETRY_BACKOFF_SECONDS": "0.01",
    "HTTP_TIMEOUT_SECONDS": "1",
    "LOG_LEVEL": "INFO",
}

Token = Callable[..., str]


class OtlpSink:
    """A stand-in OTLP/HTTP collector: keeps every export the services POST to /v1/traces."""

    def __init__(self) -> None:
        self.exports: list[bytes] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/v1/traces":
                    sink.exports.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def spans(self) -> list[tuple[str, str]]:
        """(service.name, trace id in hex) of every span received so far."""
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        found = []
        for body in list(self.exports):
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found += [(attributes.get("service.name", ""), s.trace_id.hex()) for s in scope_spans.spans]
        return found


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs two pytest-xdist workers (`--dist loadgroup`): every test on the running
    stack goes to the same one, so the stack starts once while the other runs the services' tests.
    The tests that empty a rate-limit bucket (`drained_bucket`) run after every other stack test,
    in their own order: a bucket that has only begun to refill would answer the next test's
    requests with 429."""
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("stack"))
    items.sort(key=lambda item: "drained_bucket" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpSink]:
    """Where the stack's services send their spans (tracing is on in the tests, as in production)."""
    sink = OtlpSink()
    sink.thread.start()
    try:
        yield sink
    finally:
        sink.server.shutdown()
        sink.server.server_close()


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def stack_ports() -> dict[str, Any]:
    """Free loopback ports for every listener of the stack, chosen together so no two are the
    same: the gateway's three, and per service its API, metrics and RPC port (used where the
    protocol has one). Servers that set SO_REUSEPORT, as some RPC servers and gateways do, would
    otherwise share a port that two of them picked and silently split its connections."""
    gateway_port, admin_port, tls_port, *service_ports = _free_ports(3 + 3 * len(SERVICES))
    count = len(SERVICES)
    api, metrics, rpc = (service_ports[i * count : (i + 1) * count] for i in range(3))
    names = [svc.name for svc in SERVICES]
    return {
        "ports": dict(zip(names, api, strict=True)),
        "metrics_ports": dict(zip(names, metrics, strict=True)),
        "rpc_ports": dict(zip(names, rpc, strict=True)),
        "gateway_port": gateway_port,
        "admin_port": admin_port,
        "tls_port": tls_port,
    }


def _missing(reason: str) -> None:
    """Skip the stack's tests for a missing tool, or fail under MSMVP_REQUIRE_TOOLS=1 (CI)."""
    if os.environ.get("MSMVP_REQUIRE_TOOLS") == "1":
        pytest.fail(f"MSMVP_REQUIRE_TOOLS=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, otlp: OtlpSink) -> Iterator[Stack]:
    if gateway_impl.find_binary() is None:
        _missing(f"no {gateway_impl.LABEL} binary: {gateway_impl.INSTALL_HINT}")
    for server in SERVERS:  # the message broker, the service registry
        if server.find_binary() is None:
            _missing(f"no {server.LABEL} server: {server.INSTALL_HINT}")
    running = Stack(
        workdir=tmp_path_factory.mktemp("stack"),
        **stack_ports(),
        # Spans are exported every 100 ms, so a test sees them soon after its request.
        env={**FAILURE_SETTINGS, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url, "OTEL_BSP_SCHEDULE_DELAY": "100"},
        rate_limit=RATE_LIMIT,
    )
    try:
        running.start()
    except StackError as exc:
        pytest.fail(f"the stack did not start: {exc}")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def token(stack: Stack) -> Token:
    """token("reader"), token("writer", sub="bob"): a valid token for the running stack."""

    def make(*roles: str, sub: str = "tester", ttl: int = 600) -> str:
        return credentials.token(stack, roles or ("admin",), sub=sub, ttl=ttl)

    return make


@pytest.fixture()
def gateway(stack: Stack) -> Iterator[httpx.Client]:
    """An HTTP client for the gateway; no credentials unless a test adds them."""
    with httpx.Client(base_url=stack.gateway_url, timeout=10.0) as client:
        yield client


class Api:
    """Calls through the gateway with a token of the given roles."""

    def __init__(self, client: httpx.Client, token: Token) -> None:
        self.client = client
        self.token = token

    def headers(self, *roles: str) -> dict[str, str]:
        return credentials.header(self.token(*roles))

    def create(self, svc: ServiceSpec | Resource, refs: Mapping[str, int] | None = None) -> httpx.Response:
        """POST a new entry as a writer: to `svc`'s first resource, or to the resource given;
        `refs` maps each reference field of the body to an id (`references` makes them)."""
        resource = svc if isinstance(svc, Resource) else resources.first(svc.name)
        return self.client.post(resource.path, json=resource.body(refs or {}), headers=self.headers("writer"))

    def create_id(self, svc: ServiceSpec | Resource, refs: Mapping[str, int] | None = None) -> int:
        response = self.create(svc, refs)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def references(self, svc: ServiceSpec | Resource) -> dict[str, int]:
        """A fresh entry for each reference of `svc`'s first resource (or of the resource given),
        made after the entries it references in turn, as {field: id}."""
        resource = svc if isinstance(svc, Resource) else resources.first(svc.name)
        made: dict[str, int] = {}
        for needed in resources.creation_order(resource)[:-1]:
            made[needed.key] = self.create_id(needed, {f: made[".".join(t)] for f, t in needed.refs.items()})
        refs = {field: made[".".join(target)] for field, target in resource.refs.items()}
        if resource.remote_refs and REFERENCE_SOURCE != "api":
            # The service learns of new entries from their events, moments later: wait until it accepts them.
            # Only a 201 shows it did: a 429 or 503 on the way (the gateway's rate limit, a full
            # bulkhead) says nothing of the read model, so polling goes on.
            def learned() -> bool:
                response = self.create(resource, refs)
                assert response.status_code in (201, 422, 429, 503), response.text
                return response.status_code == 201

            assert wait_until(learned, timeout=15.0), f"{resource.service} never learned of {refs}"
        return refs


@pytest.fixture()
def api(gateway: httpx.Client, token: Token) -> Api:
    return Api(gateway, token)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0, interval: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` passes; return whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@pytest.fixture(scope="session")
def poll() -> Callable[..., bool]:
    """poll(condition, timeout=5.0): wait for a condition instead of sleeping a fixed time."""
    return wait_until

"""The edge, through the real gateway (whichever the project chose): routing, tokens checked
at the gateway, roles at the services, request ids, the gateway's own errors as RFC 9457
problem details, the body cap, no /metrics from outside, and the per-client rate limit.
What only one gateway has is tested next to it, in test_gateway_<gateway>.py."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from scripts import credentials
from scripts.dev import SERVICES, Stack

from ..resources import first

pytestmark = pytest.mark.integration

NAMES = [svc.name for svc in SERVICES]
# Where each service is called: its first resource's collection (/api/v1/<service>[/<resources>]).
PATHS = {name: first(name).path for name in NAMES}


# The titles of the statuses a gateway answers itself (RFC 9110 reason phrases).
TITLES = {
    401: "Unauthorized",
    404: "Not Found",
    413: "Content Too Large",
    429: "Too Many Requests",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The RFC 9457 problem details of a reply the gateway answered itself with `status`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    assert body["type"] == "about:blank", body
    assert body["title"] == TITLES[status], body
    assert body["status"] == status, body
    assert isinstance(body["detail"], str) and body["detail"], body
    return body


def test_gateway_answers_its_own_health_check(gateway: httpx.Client) -> None:
    response = gateway.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


@pytest.mark.parametrize("name", NAMES)
def test_valid_token_reaches_the_service(name: str, gateway: httpx.Client, token: Callable[..., str]) -> None:
    response = gateway.get(PATHS[name], headers=credentials.header(token("reader")))
    assert response.status_code == 200, response.text
    assert {"items", "total", "limit", "offset"} <= response.json().keys()


@pytest.mark.parametrize("name", NAMES)
def test_missing_token_is_rejected_at_the_edge(name: str, gateway: httpx.Client) -> None:
    response = gateway.get(PATHS[name])
    problem(response, 401)
    assert response.headers["www-authenticate"].startswith(credentials.SCHEME)


@pytest.mark.parametrize("bad_token", credentials.BAD_TOKENS)
def test_bad_token_is_rejected(bad_token: str, gateway: httpx.Client, stack: Stack) -> None:
    token = credentials.bad_token(stack, bad_token)
    response = gateway.get(PATHS[NAMES[0]], headers=credentials.header(token))
    refused = problem(response, 401)
    if credentials.EDGE_CHECKS:
        # Refused at the edge: the gateway's own problem says why (`code`); a service's 401 does not.
        assert refused.get("code"), response.text
    else:
        # The gateway cannot check this credential: the service refuses it (docs/auth.md).
        assert response.headers["www-authenticate"].startswith(credentials.SCHEME), response.headers


@pytest.mark.parametrize("name", NAMES)
def test_missing_role_is_forbidden_by_the_service(name: str, gateway: httpx.Client, token: Callable[..., str]) -> None:
    reader = credentials.header(token("reader"))
    writer = credentials.header(token("writer"))
    assert gateway.post(PATHS[name], json=first(name).example, headers=reader).status_code == 403
    response = gateway.delete(f"{PATHS[name]}/1", headers=writer)
    assert response.status_code == 403
    # The service's own answer, passed through unchanged: a problem+json 403.
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 403


def test_services_check_the_token_again(gateway: httpx.Client, stack: Stack, token: Callable[..., str]) -> None:
    # Defence in depth: a service reached without the gateway still refuses a call without a token.
    name = NAMES[0]
    assert httpx.get(f"{stack.service_url(name)}{PATHS[name]}", timeout=5.0).status_code == 401
    response = gateway.get(PATHS[name], headers=credentials.header(token("reader")))
    assert response.status_code == 200


def test_unknown_routes_are_404(gateway: httpx.Client, token: Callable[..., str]) -> None:
    headers = credentials.header(token("admin"))
    for path in ("/nothing-here", "/api/v1/no-such-service", f"/api/v2/{NAMES[0]}", f"/api/v1/{NAMES[0]}x"):
        problem(gateway.get(path, headers=headers), 404)


def test_metrics_are_not_reachable_through_the_gateway(gateway: httpx.Client, token: Callable[..., str]) -> None:
    # Prometheus scrapes the services' metrics port inside the network; from outside, no route.
    headers = credentials.header(token("admin"))
    for path in ("/metrics", f"/api/v1/{NAMES[0]}/../../../metrics", f"/{NAMES[0]}/metrics"):
        response = gateway.get(path, headers=headers)
        assert response.status_code == 404, (path, response.status_code)
        assert "# TYPE" not in response.text
        problem(response, 404)


def test_a_body_over_one_mib_is_413_at_the_edge(gateway: httpx.Client, token: Callable[..., str]) -> None:
    headers = {**credentials.header(token("writer")), "Content-Type": "application/json"}
    big = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    problem(gateway.post(PATHS[NAMES[0]], content=big, headers=headers), 413)


def test_request_id_reaches_the_service_and_comes_back(
    gateway: httpx.Client, token: Callable[..., str], stack: Stack, poll: Callable[..., bool]
) -> None:
    request_id = str(uuid.uuid4())
    name = NAMES[0]
    response = gateway.get(PATHS[name], headers={**credentials.header(token("reader")), "X-Request-ID": request_id})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id

    def logged_by(process: str) -> bool:
        lines = stack.log_path(process).read_text().splitlines()
        return any(json.loads(line).get("request_id") == request_id for line in lines if line.startswith("{"))

    def in_access_log() -> bool:
        # Each gateway names the field its own way (request_id, request_X-Request-Id, ...).
        return any(request_id in line for line in stack.log_path("gateway").read_text().splitlines())

    assert poll(lambda: logged_by(name)), f"{name} did not log request id {request_id}"
    assert poll(in_access_log), "the gateway access log lacks the request id"


def test_gateway_generates_a_request_id(gateway: httpx.Client) -> None:
    assert uuid.UUID(gateway.get("/healthz").headers["x-request-id"])


def _until_limited(
    url: str, headers: dict[str, str], local_address: str = "127.0.0.1"
) -> tuple[list[int], httpx.Response | None]:
    """Requests to `url` (8 at a time, from `local_address`) up to the first 429: statuses, the 429."""
    transport = httpx.HTTPTransport(local_address=local_address)
    statuses: list[int] = []
    started = time.monotonic()
    with httpx.Client(transport=transport, timeout=10.0) as client, ThreadPoolExecutor(8) as pool:
        for _ in range(250):
            batch = list(pool.map(lambda _: client.get(url, headers=headers), range(8)))
            statuses += [response.status_code for response in batch]
            limited = [response for response in batch if response.status_code == 429]
            if limited:
                assert statuses.count(200) > 0, statuses
                return statuses, limited[0]
    pytest.fail(f"no 429 after {len(statuses)} requests in {time.monotonic() - started:.1f}s")


def _burst(url: str, headers: dict[str, str], local_address: str = "127.0.0.1", count: int = 40) -> list[int]:
    """Statuses of `count` requests sent right away, 8 at a time (faster than a bucket refills)."""
    transport = httpx.HTTPTransport(local_address=local_address)
    with httpx.Client(transport=transport, timeout=10.0) as client, ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: client.get(url, headers=headers).status_code, range(count)))


def _second_loopback_address() -> bool:
    """Whether 127.0.0.2 can be a client address here (Linux: all of 127/8; macOS: only if aliased)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.2", 0))
        except OSError:
            return False
    return True


# The rate-limit tests come last in this module: they empty token buckets (the fixture then
# waits until the default client's bucket has refilled).


@pytest.mark.usefixtures("drained_bucket")
def test_one_token_subject_does_not_limit_another(stack: Stack) -> None:
    # Requests with a valid token are limited per subject, also from the same address. First of
    # the rate-limit tests: a gateway that also caps each client address finds that cap still full.
    url = f"{stack.gateway_url}{PATHS[NAMES[0]]}?limit=1"
    greedy = credentials.header(credentials.token(stack, ["reader"], sub="greedy"))
    patient = credentials.header(credentials.token(stack, ["reader"], sub="patient"))
    _until_limited(url, greedy)
    statuses = _burst(url, patient)
    # Not one 429 for the other subject (a busy machine may add a 503 of a slow health check).
    assert 429 not in statuses and statuses.count(200) > len(statuses) // 2, statuses


@pytest.mark.usefixtures("drained_bucket")
def test_rate_limit_answers_429_with_retry_after(stack: Stack) -> None:
    _, response = _until_limited(f"{stack.gateway_url}/healthz", {})
    assert response is not None
    problem(response, 429)
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.usefixtures("drained_bucket")
@pytest.mark.skipif(not _second_loopback_address(), reason="127.0.0.2 is not a local address here")
def test_one_client_address_does_not_limit_another(stack: Stack) -> None:
    # Anonymous requests are limited per client address: 127.0.0.2 is another client.
    _until_limited(f"{stack.gateway_url}/healthz", {})
    statuses = _burst(f"{stack.gateway_url}/healthz", {}, local_address="127.0.0.2")
    assert 429 not in statuses and statuses.count(200) > len(statuses) // 2, statuses

"""The edge, through the real gateway (whichever the project chose): routing, tokens checked
at the gateway, roles at the services, request ids, errors as JSON, and the rate limit.
What only one gateway has is tested next to it, in test_gateway_<gateway>.py."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from scripts.dev import SERVICES, Stack
from scripts.token import mint

pytestmark = pytest.mark.integration

NAMES = [svc.name for svc in SERVICES]


def _error(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return dict(response.json()["error"])


def test_gateway_answers_its_own_health_check(gateway: httpx.Client) -> None:
    response = gateway.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


@pytest.mark.parametrize("name", NAMES)
def test_valid_token_reaches_the_service(name: str, gateway: httpx.Client, token: Callable[..., str]) -> None:
    response = gateway.get(f"/api/v1/{name}", headers={"Authorization": f"Bearer {token('reader')}"})
    assert response.status_code == 200, response.text
    assert {"items", "total", "limit", "offset"} <= response.json().keys()


@pytest.mark.parametrize("name", NAMES)
def test_missing_token_is_rejected_at_the_edge(name: str, gateway: httpx.Client) -> None:
    response = gateway.get(f"/api/v1/{name}")
    assert response.status_code == 401
    assert _error(response)["code"]


@pytest.mark.parametrize(
    "bad_token",
    [
        pytest.param(lambda secret: mint("x" * 48, ["admin"]), id="wrong-secret"),
        pytest.param(lambda secret: mint(secret, ["admin"], ttl=-120), id="expired"),
        pytest.param(lambda secret: mint(secret, ["admin"], audience="someone-else"), id="wrong-audience"),
        pytest.param(lambda secret: mint(secret, ["admin"], issuer="someone-else"), id="wrong-issuer"),
        pytest.param(lambda secret: "not.a.jwt", id="garbage"),
    ],
)
def test_bad_token_is_rejected(bad_token: Callable[[str], str], gateway: httpx.Client, stack: Stack) -> None:
    response = gateway.get(f"/api/v1/{NAMES[0]}", headers={"Authorization": f"Bearer {bad_token(stack.secret)}"})
    assert response.status_code == 401
    assert _error(response)["code"]


@pytest.mark.parametrize("name", NAMES)
def test_missing_role_is_forbidden_by_the_service(name: str, gateway: httpx.Client, token: Callable[..., str]) -> None:
    reader = {"Authorization": f"Bearer {token('reader')}"}
    writer = {"Authorization": f"Bearer {token('writer')}"}
    assert gateway.post(f"/api/v1/{name}", json={"name": "x"}, headers=reader).status_code == 403
    response = gateway.delete(f"/api/v1/{name}/1", headers=writer)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 403


def test_services_check_the_token_again(gateway: httpx.Client, stack: Stack, token: Callable[..., str]) -> None:
    # Defence in depth: a service reached without the gateway still refuses a call without a token.
    name = NAMES[0]
    assert httpx.get(f"{stack.service_url(name)}/api/v1/{name}", timeout=5.0).status_code == 401
    response = gateway.get(f"/api/v1/{name}", headers={"Authorization": f"Bearer {token('reader')}"})
    assert response.status_code == 200


def test_unknown_routes_are_404(gateway: httpx.Client, token: Callable[..., str]) -> None:
    headers = {"Authorization": f"Bearer {token('admin')}"}
    for path in ("/nothing-here", "/api/v1/no-such-service", f"/api/v2/{NAMES[0]}", f"/api/v1/{NAMES[0]}x"):
        response = gateway.get(path, headers=headers)
        assert response.status_code == 404, path
        assert _error(response)["code"]


def test_request_id_reaches_the_service_and_comes_back(
    gateway: httpx.Client, token: Callable[..., str], stack: Stack, poll: Callable[..., bool]
) -> None:
    request_id = str(uuid.uuid4())
    name = NAMES[0]
    response = gateway.get(
        f"/api/v1/{name}", headers={"Authorization": f"Bearer {token('reader')}", "X-Request-ID": request_id}
    )
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


@pytest.mark.usefixtures("drained_bucket")
def test_rate_limit_answers_429(gateway: httpx.Client) -> None:
    # Last in this module: it empties the token bucket (the fixture waits for the refill).
    statuses: list[int] = []
    started = time.monotonic()
    for _ in range(1000):
        response = gateway.get("/healthz")
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, f"no 429 after {len(statuses)} requests in {time.monotonic() - started:.1f}s"
    assert set(statuses[:-1]) == {200}
    assert _error(response)["code"]

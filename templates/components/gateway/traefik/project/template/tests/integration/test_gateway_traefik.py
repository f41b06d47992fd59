"""What only the Traefik gateway has: forwardAuth to gateway/auth, limits per token subject, the
body limit, failover to a JSON 503, its API and its metrics. The generic edge tests (routing,
401, 429) are in test_gateway.py."""

from __future__ import annotations

import importlib.util
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from scripts import credentials
from scripts.dev import SERVICES, Stack

from ..resources import first

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NAMES = [svc.name for svc in SERVICES]
# The first service's primary resource (tests/resources.py): a route that reaches it.
PATH = first(NAMES[0]).path


def _verifier() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gateway_verifier", ROOT / "gateway" / "auth" / "verifier.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not credentials.EDGE_CHECKS, reason="this auth is checked by the services, not at the edge")
def test_verifier_accepts_a_valid_token(stack: Stack) -> None:
    verifier = _verifier()
    settings = verifier.Settings(credentials.service_env(stack))
    token = credentials.token(stack, ["reader"], sub="ann")
    status, headers, _ = verifier.respond("/verify", {"authorization": f"Bearer {token}"}, settings)
    assert status == 200
    assert ("x-auth-subject", "ann") in headers


@pytest.mark.skipif(not credentials.EDGE_CHECKS, reason="this auth is checked by the services, not at the edge")
@pytest.mark.parametrize("bad_token", credentials.BAD_TOKENS)
def test_verifier_refuses_bad_tokens_with_a_reason(stack: Stack, bad_token: str) -> None:
    verifier = _verifier()
    settings = verifier.Settings(credentials.service_env(stack))
    token = credentials.bad_token(stack, bad_token)
    status, headers, body = verifier.respond("/verify", {"authorization": f"Bearer {token}"}, settings)
    assert status == 401
    assert b'"code": "jwt_authn_' in body
    assert ("www-authenticate", 'Bearer error="invalid_token"') in headers


@pytest.mark.skipif(not credentials.EDGE_CHECKS, reason="this auth is checked by the services, not at the edge")
def test_verifier_refuses_to_start_without_its_settings() -> None:
    with pytest.raises(RuntimeError, match="is not set"):
        _verifier().Settings({})


def test_subject_and_request_id_reach_the_service(
    gateway: httpx.Client, stack: Stack, token: Callable[..., str], poll: Callable[..., bool]
) -> None:
    request_id = str(uuid.uuid4())
    credential = credentials.header(token("reader", sub="carol"))
    response = gateway.get(PATH, headers={**credential, "X-Request-ID": request_id})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == request_id

    def logged() -> bool:
        text = stack.log_path("gateway").read_text()
        subject = '"request_X-Auth-Subject":"carol"' in text or not credentials.EDGE_CHECKS
        return request_id in text and subject

    assert poll(logged), "the access log lacks the request id or the subject"
    text = stack.log_path("gateway").read_text()
    assert credentials.SCHEME not in text
    assert all(value.split()[-1] not in text for value in credential.values()), "a credential in the access log"


def test_a_client_cannot_set_the_subject_itself(gateway: httpx.Client, token: Callable[..., str]) -> None:
    forged = {**credentials.header(token("reader")), "X_Auth_Subject": "someone-else"}
    assert gateway.get(PATH, headers=forged).status_code == 400


def test_oversized_body_is_413_as_json(gateway: httpx.Client, token: Callable[..., str]) -> None:
    response = gateway.post(
        PATH,
        content=b"x" * (1024 * 1024 + 1),
        headers={**credentials.header(token("writer")), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_unknown_route_is_a_json_404(gateway: httpx.Client) -> None:
    response = gateway.get("/no/such/route")
    assert response.status_code == 404
    assert response.json()["code"] == "route_not_found"


def _router_name(name: str) -> str:
    """`users@file`; Traefik names the copies of a router on several entry points `web-users@file`, ..."""
    return re.sub(r"^(web|websecure)-", "", name)


def test_api_lists_one_router_per_service(stack: Stack) -> None:
    routers = httpx.get(f"{stack.admin_url}/api/http/routers", timeout=5.0).json()
    names = {_router_name(router["name"]) for router in routers if router.get("status") == "enabled"}
    assert {f"{name}@file" for name in NAMES} <= names
    assert {"healthz@file", "not-found@file"} <= names


def test_metrics_count_requests_per_router(gateway: httpx.Client, stack: Stack, token: Callable[..., str]) -> None:
    from scripts import gateway as module

    gateway.get(PATH, headers=credentials.header(token("reader")))
    metrics = httpx.get(module.metrics_url(stack), timeout=5.0).text
    assert re.search(rf'router="((web|websecure)-)?{re.escape(NAMES[0])}@file"', metrics), "no metrics per router"
    assert "traefik_entrypoint_requests_total" in metrics


@pytest.mark.usefixtures("drained_bucket")
def test_rate_limit_is_per_token_subject(gateway: httpx.Client, stack: Stack) -> None:
    # Last in this module: it empties one subject's bucket (the fixture waits for the refill).
    path = PATH
    if stack.rate_limit is not None:
        # An earlier test may have emptied this address's bucket, and drained_bucket waits only
        # for its first token: this test sends a whole subject's bucket from this address.
        burst, per_second = stack.rate_limit
        time.sleep(burst / per_second)
    first = credentials.header(credentials.token(stack, ["reader"], sub="greedy"))
    other = credentials.header(credentials.token(stack, ["reader"], sub="patient"))
    statuses: list[int] = []
    started = time.monotonic()
    for _ in range(1000):
        statuses.append(gateway.get(path, headers=first).status_code)
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429, f"no 429 after {len(statuses)} requests in {time.monotonic() - started:.1f}s"
    # The same client with another subject still has its own bucket.
    assert gateway.get(path, headers=other).status_code == 200

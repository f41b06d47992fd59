"""What only the nginx gateway has: its error codes, the body size cap, the metrics its njs
module builds from stub_status, and the rate limiter's Retry-After."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
import pytest

from scripts import credentials
from scripts.dev import SERVICES, Stack

from ..resources import first

pytestmark = pytest.mark.integration

NAMES = [svc.name for svc in SERVICES]
# The first service's primary resource (tests/resources.py): a route that reaches it.
PATH = first(NAMES[0]).path


def _code(response: httpx.Response) -> str:
    return str(response.json()["code"])


@pytest.mark.skipif(not credentials.EDGE_CHECKS, reason="this auth is checked by the services, not by nginx")
def test_edge_errors_say_why(gateway: httpx.Client, token: Callable[..., str]) -> None:
    missing = gateway.get(PATH)
    assert _code(missing) == "missing_token"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    expired = gateway.get(PATH, headers=credentials.header(token(ttl=-120)))
    assert _code(expired) == "token_expired"
    headers = credentials.header(token("admin"))
    assert _code(gateway.get("/nothing-here", headers=headers)) == "route_not_found"


def test_oversized_body_is_refused_at_the_edge(gateway: httpx.Client, token: Callable[..., str]) -> None:
    headers = {**credentials.header(token("writer")), "Content-Type": "application/json"}
    response = gateway.post(PATH, content=b" " * (1024 * 1024 + 1), headers=headers)
    assert response.status_code == 413
    assert _code(response) == "body_too_large"


def test_status_port_serves_prometheus_metrics(gateway: httpx.Client, stack: Stack) -> None:
    def requests_total() -> int:
        text = httpx.get(f"{stack.admin_url}/metrics", timeout=5.0).text
        match = re.search(r"^nginx_http_requests_total (\d+)$", text, re.MULTILINE)
        assert match, text
        return int(match.group(1))

    before = requests_total()
    gateway.get("/healthz")
    assert requests_total() > before
    text = httpx.get(f"{stack.admin_url}/metrics", timeout=5.0).text
    assert "nginx_up 1" in text
    assert "# TYPE nginx_connections_accepted counter" in text


@pytest.mark.usefixtures("drained_bucket")
def test_rate_limited_reply_says_when_to_retry(gateway: httpx.Client, stack: Stack) -> None:
    started = time.monotonic()
    for _ in range(1000):
        response = gateway.get("/healthz")
        if response.status_code == 429:
            break
    assert response.status_code == 429, f"no 429 in {time.monotonic() - started:.1f}s"
    assert response.headers["retry-after"] == "1"
    assert _code(response) == "rate_limited"
    # The status port is not rate limited (probes and Prometheus use it).
    assert httpx.get(f"{stack.admin_url}/healthz", timeout=5.0).status_code == 200

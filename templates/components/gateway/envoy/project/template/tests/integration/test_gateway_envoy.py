"""What only the Envoy gateway has: its error codes, its admin statistics for Prometheus, and
the rate limiter's header."""

from __future__ import annotations

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


def test_edge_errors_name_envoy_filters(gateway: httpx.Client, token: Callable[..., str]) -> None:
    # Problem details with Envoy's reason in the `code` extension member.
    if credentials.EDGE_CHECKS:
        assert gateway.get(PATH).json()["code"].startswith("jwt_authn")
    headers = credentials.header(token("admin"))
    assert gateway.get("/nothing-here", headers=headers).json()["code"] == "route_not_found"


def test_admin_exposes_prometheus_stats(gateway: httpx.Client, stack: Stack, token: Callable[..., str]) -> None:
    gateway.get(PATH, headers=credentials.header(token("reader")))
    stats = httpx.get(f"{stack.admin_url}/stats/prometheus", timeout=5.0).text
    assert f'envoy_cluster_upstream_rq_total{{envoy_cluster_name="{NAMES[0]}"}}' in stats
    assert "local_rate_limit_enabled" in stats
    assert ("jwt_authn_allowed" in stats) is credentials.EDGE_CHECKS


@pytest.mark.usefixtures("drained_bucket")
def test_rate_limited_reply_is_marked(gateway: httpx.Client) -> None:
    started = time.monotonic()
    for _ in range(1000):
        response = gateway.get("/healthz")
        if response.status_code == 429:
            break
    assert response.status_code == 429, f"no 429 in {time.monotonic() - started:.1f}s"
    assert response.headers["x-local-rate-limit"] == "true"
    assert response.json()["code"] == "local_rate_limited"


def test_a_body_over_one_mib_is_refused_at_the_edge(gateway: httpx.Client, token: Callable[..., str]) -> None:
    headers = {**credentials.header(token("admin")), "Content-Type": "application/json"}
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = gateway.post(PATH, content=big, headers=headers)
    assert response.status_code == 413
    assert response.json()["code"] == "request_payload_too_large"

"""Fixtures for the tests through the gateway (the stack itself comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest


@pytest.fixture()
def drained_bucket(gateway: httpx.Client, poll: Callable[..., bool]) -> Iterator[None]:
    """For a test that exhausts the rate limit: afterwards, wait until the bucket refills."""
    yield
    assert poll(lambda: gateway.get("/healthz").status_code == 200, timeout=5.0), "rate limit never recovered"

"""Credentials for this service's tests (auth=jwt): imported by tests/conftest.py, never by the app.

The contract every auth component's `auth_testing` keeps: `SETTINGS`, the settings the tests'
`Settings` gets, and `headers(*roles, sub=...)`, request headers of a caller with those roles.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

SECRET = "test-secret-that-is-long-enough-for-hs256"  # noqa: S105 - a test-only value
ISSUER = "test-issuer"
AUDIENCE = "test-audience"
SETTINGS: dict[str, Any] = {"jwt_secret": SECRET, "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}


def make_token(*roles: str, secret: str = SECRET, **claims: Any) -> str:
    """A token: make_token("writer"), make_token("admin", exp=...), make_token(secret="x" * 32)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": "test-user",
        "roles": list(roles),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
    }
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


def headers(*roles: str, sub: str = "test-user") -> dict[str, str]:
    """Headers for a caller with the given roles."""
    return {"Authorization": f"Bearer {make_token(*roles, sub=sub)}"}

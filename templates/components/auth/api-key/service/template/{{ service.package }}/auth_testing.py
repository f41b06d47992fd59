"""Credentials for this service's tests (auth=api-key): imported by tests/conftest.py, never by the app.

The contract every auth component's `auth_testing` keeps: `SETTINGS`, the settings the tests'
`Settings` gets, and `headers(*roles, sub=...)`, request headers of a caller with those roles.
Keys are written to a keys file of this test run, exactly as scripts/api_key.py writes them.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from .auth import HEADER, PREFIX, derive

# Cheap scrypt parameters: the tests make many keys (the app reads n, r, p from each record).
PARAMS = (2**10, 8, 1)
KEYS_FILE = Path(tempfile.mkdtemp(prefix="api-keys-")) / "api-keys.json"
# The file exists from the start, as in production (which refuses to start without it), whichever
# test runs first.
KEYS_FILE.write_text(json.dumps({"version": 1, "keys": {}}))
SETTINGS: dict[str, Any] = {"api_keys_file": str(KEYS_FILE)}
_issued: dict[tuple[frozenset[str], str], str] = {}


def add_key(
    *roles: str, sub: str = "test-user", expires: float | None = None, revoked: float | None = None
) -> tuple[str, str]:
    """Write a new key to the tests' keys file; returns (id, key)."""
    data = json.loads(KEYS_FILE.read_text()) if KEYS_FILE.is_file() else {"version": 1, "keys": {}}
    key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_bytes(16)
    n, r, p = PARAMS
    data["keys"][key_id] = {
        "owner": sub,
        "roles": sorted(roles),
        "salt": base64.b64encode(salt).decode(),
        "hash": base64.b64encode(derive(secret, salt, PARAMS)).decode(),
        "n": n,
        "r": r,
        "p": p,
        "created": int(time.time()),
        "expires": expires,
        "revoked": revoked,
    }
    tmp = KEYS_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, KEYS_FILE)
    return key_id, f"{PREFIX}_{key_id}_{secret}"


def headers(*roles: str, sub: str = "test-user") -> dict[str, str]:
    """Headers for a caller with the given roles (one key per role set and owner, made once)."""
    wanted = (frozenset(roles), sub)
    if wanted not in _issued:
        _issued[wanted] = add_key(*roles, sub=sub)[1]
    return {HEADER: _issued[wanted]}

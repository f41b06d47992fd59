"""Credentials for the local runner and the repo-level tests (auth=api-key): keys in a keys file.

The contract every auth component's `scripts/credentials.py` keeps (docs/templates.md, "Auth
contract"). The stack's keys file is `<workdir>/api-keys.json`; every service reads it
(API_KEYS_FILE) and picks up new and revoked keys without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scripts.api_key import create, keys_file, revoke

# Keys every gateway and every service must refuse (the edge tests run each through the stack).
BAD_TOKENS = ("wrong-secret", "expired", "revoked", "unknown-id", "garbage")
HEADER = "X-API-Key"
# The scheme of a 401's WWW-Authenticate; the gateways do not check keys (docs/auth.md).
SCHEME = "ApiKey"
EDGE_CHECKS = False


def header(token: str) -> dict[str, str]:
    """How a key travels (the repo-level tests and the load test send it this way)."""
    return {HEADER: token}


def _file(stack: Any) -> Path:
    return Path(stack.workdir) / "api-keys.json"


def prepare(stack: Any) -> None:
    """An empty keys file (keys are added as the tests ask for them)."""
    path = _file(stack)
    if not path.is_file():
        path.write_text('{"version": 1, "keys": {}}\n')
        path.chmod(0o600)


def processes(stack: Any) -> list[tuple[str, list[str], dict[str, str]]]:
    """No process of its own: the services read the keys file."""
    return []


def ready(stack: Any, name: str) -> bool:
    return True


def service_env(stack: Any) -> dict[str, str]:
    return {"API_KEYS_FILE": str(_file(stack))}


def edge(stack: Any) -> dict[str, str]:
    """The gateways do not check keys themselves (docs/auth.md): the services do."""
    return {"keys_file": str(_file(stack)), "header": HEADER}


def token(stack: Any, roles: Iterable[str], *, sub: str = "tester", ttl: int = 600) -> str:
    """A valid key for the running stack (test keys are not held to two per owner)."""
    return create(_file(stack), roles, sub, ttl=ttl, max_active=None)[1]


def bad_token(stack: Any, name: str) -> str:
    """One of BAD_TOKENS."""
    path = _file(stack)
    if name == "wrong-secret":
        key_id = create(path, ["admin"], "bad", max_active=None)[0]
        return f"ak_{key_id}_not-the-secret"
    if name == "expired":
        return create(path, ["admin"], "bad", ttl=-120, max_active=None)[1]
    if name == "revoked":
        key_id, key = create(path, ["admin"], "bad", max_active=None)
        revoke(path, key_id, now=time.time())
        return key
    if name == "unknown-id":
        return "ak_000000000000_unknown"
    return "garbage"


def dev_token(roles: Iterable[str], *, sub: str = "load-test") -> str:
    """A key for the stack `make dev` runs (its keys file in .dev/, or API_KEYS_FILE)."""
    return create(keys_file(), roles, sub, ttl=3600, max_active=None)[1]

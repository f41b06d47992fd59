"""Credentials for the local runner and the repo-level tests (auth=jwt): HS256 tokens.

The contract every auth component's `scripts/credentials.py` keeps (docs/templates.md, "Auth
contract"): `prepare(stack)`, `processes(stack)`, `ready(stack, name)`, `service_env(stack)`,
`edge(stack)`, `token(stack, roles, sub=, ttl=)`, `BAD_TOKENS` / `bad_token(stack, name)` and
`dev_token(roles, sub=)` (for the load test against `make dev`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from scripts.token import PROJECT, jwks, load_secret, mint

# Tokens every gateway and every service must refuse (the edge tests run each through the stack).
BAD_TOKENS = ("wrong-secret", "expired", "wrong-audience", "wrong-issuer", "garbage")

# How a credential travels (the repo-level tests and the load test send it this way), the scheme
# of a 401's WWW-Authenticate, and whether the gateway itself checks credentials.
SCHEME = "Bearer"
EDGE_CHECKS = True


def header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def prepare(stack: Any) -> None:
    """Write the JWKS of the dev secret (the gateway's jwt_authn reads it)."""
    jwks_path = stack.workdir / "jwks.json"
    jwks_path.write_text(json.dumps(jwks(stack.secret), indent=2) + "\n")
    jwks_path.chmod(0o600)


def processes(stack: Any) -> list[tuple[str, list[str], dict[str, str]]]:
    """No process of its own: the secret is all the services need."""
    return []


def ready(stack: Any, name: str) -> bool:
    return True


def service_env(stack: Any) -> dict[str, str]:
    return {
        "JWT_SECRET": stack.secret,
        "JWT_ISSUER": os.environ.get("JWT_ISSUER", PROJECT),
        "JWT_AUDIENCE": os.environ.get("JWT_AUDIENCE", PROJECT),
    }


def edge(stack: Any) -> dict[str, str]:
    """What the local gateway checks tokens with."""
    return {"jwks_file": str(stack.workdir / "jwks.json"), "secret": stack.secret}


def token(stack: Any, roles: Iterable[str], *, sub: str = "tester", ttl: int = 600) -> str:
    """A valid token for the running stack."""
    return mint(stack.secret, roles, sub=sub, ttl=ttl)


def bad_token(stack: Any, name: str) -> str:
    """One of BAD_TOKENS."""
    made = {
        "wrong-secret": lambda: mint("x" * 48, ["admin"]),
        "expired": lambda: mint(stack.secret, ["admin"], ttl=-120),
        "wrong-audience": lambda: mint(stack.secret, ["admin"], audience="someone-else"),
        "wrong-issuer": lambda: mint(stack.secret, ["admin"], issuer="someone-else"),
        "garbage": lambda: "not.a.jwt",
    }
    return made[name]()


def dev_token(roles: Iterable[str], *, sub: str = "load-test") -> str:
    """A token for the stack `make dev` runs (its secret in .dev/, or JWT_SECRET)."""
    return mint(load_secret(), roles, sub=sub)

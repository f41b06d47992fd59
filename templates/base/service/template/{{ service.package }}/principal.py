"""Who is calling, whichever authentication the project chose (auth.py), and its roles.

Roles are ranked: `reader` may read, `writer` may also create and update, `admin` may also
delete. `auth.py` (the chosen auth component's) turns a request's credentials into a
`Principal` or raises `AuthenticationError`; `rbac.py` turns those into 401 and 403 answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fastapi import Request

ROLE_RANK = {"reader": 1, "writer": 2, "admin": 3}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    subject: str
    roles: frozenset[str]

    def has_role(self, role: str) -> bool:
        needed = ROLE_RANK[role]
        return any(ROLE_RANK.get(held, 0) >= needed for held in self.roles)


class AuthenticationError(Exception):
    """The request's credentials are missing or not valid: a 401. `reason` is logged, never shown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def bearer_token(request: Request) -> str:
    """The request's bearer token (RFC 6750); `AuthenticationError` without one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("missing_token")
    return token.strip()


class VerifiedTokens:
    """Tokens verified recently, each remembered until `valid_until` (bounded; oldest out first).

    A verifier puts a token here with the earlier of `now + ttl` and the token's own expiry (plus
    its leeway), exactly as long as a new check would accept it: the cache saves the signature
    check, it never extends a token's life. Failures are not remembered; `ttl` 0 remembers nothing.
    """

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self._max_entries = max_entries
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str, now: float) -> Principal | None:
        cached = self._entries.get(token)
        if cached is None:
            return None
        if now < cached[1]:
            return cached[0]
        del self._entries[token]
        return None

    def put(self, token: str, principal: Principal, now: float, expires_at: float) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest entry
        self._entries[token] = (principal, min(now + self.ttl, expires_at))

    def clear(self) -> None:
        self._entries.clear()


class AuthSetupError(Exception):
    """The auth settings cannot work (or are unsafe in production); the message is one line."""


class Verifier(Protocol):
    """What `auth.build_verifier(settings)` returns (docs/templates.md: runtime contracts)."""

    async def verify(self, request: Request) -> Principal:
        """The caller of `request`, or `AuthenticationError`."""
        ...

    async def start(self) -> None:
        """Called once the app starts (before the first request)."""
        ...

    async def close(self) -> None:
        """Called when the app stops."""
        ...

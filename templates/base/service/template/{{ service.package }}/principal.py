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

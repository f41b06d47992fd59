"""Role-based access control: FastAPI dependencies over the chosen authentication (auth.py).

Missing or invalid credentials get 401 with `WWW-Authenticate`; valid ones without the needed
role get 403. Both are logged at WARNING with a `security` field for alerting.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Request

from .auth import CHALLENGE, UNAUTHORIZED, security_scheme
from .principal import ROLE_RANK, AuthenticationError, Principal, Verifier

logger = logging.getLogger(__name__)

# The scheme documents the credentials in OpenAPI; the verifier reads them from the request.
Credentials = Annotated[object, Depends(security_scheme)]


async def _principal(request: Request) -> Principal:
    try:
        return await cast(Verifier, request.app.state.verifier).verify(request)
    except AuthenticationError as exc:
        logger.warning(
            "authentication failed",
            extra={"security": "authentication_failure", "reason": exc.reason, "path": request.url.path},
        )
        raise HTTPException(status_code=401, detail=UNAUTHORIZED, headers={"WWW-Authenticate": CHALLENGE}) from None


async def authenticate(request: Request, _credentials: Credentials) -> Principal:
    """FastAPI dependency: the caller of this request, or 401."""
    return await _principal(request)


def require_role(role: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets the request through only if the caller holds `role` or a higher one."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")

    # One dependency, not two stacked ones: each level costs FastAPI time on every request.
    async def dependency(request: Request, _credentials: Credentials) -> Principal:
        principal = await _principal(request)
        if not principal.has_role(role):
            logger.warning(
                "access denied",
                extra={
                    "security": "authorization_failure",
                    "subject": principal.subject,
                    "required_role": role,
                    "path": request.url.path,
                },
            )
            raise HTTPException(status_code=403, detail=f"The '{role}' role is required.")
        return principal

    return dependency

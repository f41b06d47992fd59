"""Authentication with API keys (auth=api-key): the runtime contract the base service uses.

Clients send `X-API-Key: ak_<id>_<secret>`. The id is not secret: it finds the key's record in
the keys file (`API_KEYS_FILE`, written by `scripts/api_key.py`, `make api-key`) in O(1). The
record holds only a salted scrypt hash of the secret, the key's owner, roles, expiry and
revocation; the hash of the presented secret is compared with `hmac.compare_digest`.

The file is read once and again only when it changes (its inode, size or mtime), so a revoked
or new key takes effect on the next request without a restart, and a verified key is
remembered at most `TOKEN_CACHE_SECONDS` (never past its expiry; forgotten when the file
changes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.security import APIKeyHeader
from pydantic import Field
from pydantic_settings import BaseSettings

from .principal import ROLE_RANK, AuthenticationError, AuthSetupError, Principal, VerifiedTokens

if TYPE_CHECKING:
    from .settings import Settings

logger = logging.getLogger(__name__)

HEADER = "X-API-Key"
PREFIX = "ak"
CHALLENGE = f'ApiKey header="{HEADER}"'
UNAUTHORIZED = f"Missing or invalid API key (header {HEADER})."
# The header that carries the credential (forwarded on calls to other services).
CREDENTIAL_HEADER = HEADER

security_scheme = APIKeyHeader(
    name=HEADER, auto_error=False, description="An API key from `make api-key`: ak_<id>_<secret>"
)


class AuthSettings(BaseSettings):
    """API keys: where the keys file is, and how long a verified key is remembered."""

    # The JSON file scripts/api_key.py writes; empty = none (every request is refused).
    api_keys_file: str = ""
    # A verified key is remembered this long (never past its expiry); 0 checks every request.
    token_cache_seconds: float = Field(default=30.0, ge=0)


@dataclass(frozen=True)
class KeyRecord:
    """One key of the keys file (its secret is only a salted hash)."""

    key_id: str
    owner: str
    roles: frozenset[str]
    salt: bytes
    digest: bytes
    params: tuple[int, int, int]
    expires: float | None
    revoked: float | None


def derive(secret: str, salt: bytes, params: tuple[int, int, int]) -> bytes:
    """The scrypt hash of `secret` the keys file stores (n, r, p from the record)."""
    n, r, p = params
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=64 * 1024 * 1024)


def parse_key(key: str) -> tuple[str, str]:
    """(key id, secret) of `ak_<id>_<secret>`; `AuthenticationError` for anything else."""
    prefix, _, rest = key.strip().partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret:
        raise AuthenticationError("malformed_key")
    return key_id, secret


def load_records(path: Path) -> dict[str, KeyRecord]:
    """The keys file's records by id; `ValueError` for a file that is not one."""
    raw = json.loads(path.read_text())
    records: dict[str, KeyRecord] = {}
    for key_id, entry in raw.get("keys", {}).items():
        roles = frozenset(entry["roles"])
        unknown = roles - set(ROLE_RANK)
        if unknown:
            raise ValueError(f"key {key_id}: unknown roles {sorted(unknown)}")
        records[key_id] = KeyRecord(
            key_id=key_id,
            owner=str(entry["owner"]),
            roles=roles,
            salt=base64.b64decode(entry["salt"]),
            digest=base64.b64decode(entry["hash"]),
            params=(int(entry["n"]), int(entry["r"]), int(entry["p"])),
            expires=entry.get("expires"),
            revoked=entry.get("revoked"),
        )
    return records


class KeyStore:
    """The parsed keys file, re-read when the file changes (checked with one stat per request)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path) if path else None
        self._stamp: tuple[int, int, int] | None = None
        self._records: dict[str, KeyRecord] = {}
        self.reloads = 0

    def records(self) -> tuple[dict[str, KeyRecord], bool]:
        """The records and whether they were (re)read just now."""
        if self.path is None:
            return {}, False
        try:
            info = os.stat(self.path)
        except OSError:
            if self._stamp is not None:
                logger.error("API_KEYS_FILE %s is gone: refusing every key", self.path)
            self._stamp, self._records = None, {}
            return {}, False
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        if stamp == self._stamp:
            return self._records, False
        try:
            records = load_records(self.path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Keep the last good set: a half-edited file must not lock everybody out.
            logger.error("API_KEYS_FILE %s cannot be read (%s): keeping the last good keys", self.path, exc)
            return self._records, False
        self._stamp, self._records = stamp, records
        self.reloads += 1
        return records, True


class ApiKeyVerifier:
    """Verifies `X-API-Key` against the keys file."""

    def __init__(self, settings: Settings, max_entries: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.store = KeyStore(settings.api_keys_file)
        self._clock = clock
        self._verified = VerifiedTokens(settings.token_cache_seconds, max_entries)

    async def verify(self, request: Request) -> Principal:
        """The caller of `request`; raises `AuthenticationError` with the reason."""
        return self.verify_key(request.headers.get(HEADER, ""))

    def verify_key(self, key: str) -> Principal:
        """The key's principal (its owner and roles); raises `AuthenticationError` with the reason."""
        if not key.strip():
            raise AuthenticationError("missing_key")
        records, changed = self.store.records()
        if changed:
            self._verified.clear()  # a revocation or a new expiry applies from now on
        now = self._clock()
        cached = self._verified.get(key, now)
        if cached is not None:
            return cached
        key_id, secret = parse_key(key)
        record = records.get(key_id)
        if record is None:
            raise AuthenticationError("unknown_key")
        if not hmac.compare_digest(derive(secret, record.salt, record.params), record.digest):
            raise AuthenticationError("invalid_key")
        if record.revoked is not None:
            raise AuthenticationError("revoked_key")
        if record.expires is not None and now >= record.expires:
            raise AuthenticationError("expired_key")
        principal = Principal(subject=record.owner, roles=record.roles)
        until = record.expires if record.expires is not None else now + self._verified.ttl
        self._verified.put(key, principal, now, until)
        return principal

    async def start(self) -> None:
        """Read the keys file once at start, so its errors show in the log before the first call."""
        records, _ = self.store.records()
        logger.info("API keys loaded", extra={"keys": len(records)})

    async def close(self) -> None:
        self._verified.clear()


def build_verifier(settings: Settings) -> ApiKeyVerifier:
    """The verifier for these settings; `AuthSetupError` when production has no keys file."""
    if not settings.api_keys_file:
        if settings.is_production:
            raise AuthSetupError(
                "API_KEYS_FILE is not set (ENVIRONMENT=production): point it at the keys file "
                "`python scripts/api_key.py create` writes"
            )
        logger.warning("API_KEYS_FILE is not set: every request is refused", extra={"security": "no_keys"})
    elif settings.is_production and not Path(settings.api_keys_file).is_file():
        raise AuthSetupError(f"API_KEYS_FILE {settings.api_keys_file} does not exist")
    return ApiKeyVerifier(settings)

#!/usr/bin/env python3
"""Create, revoke and list API keys (auth=api-key). Standard library only.

    python scripts/api_key.py create --role writer --owner alice [--days 90]   # `make api-key`
    python scripts/api_key.py revoke ak1b2c3d4e5f6                             # `make api-key-revoke`
    python scripts/api_key.py list

A key is `ak_<id>_<secret>`: printed once by `create`, never stored. The keys file (`--file`,
else `API_KEYS_FILE`, else `<DEV_WORKDIR>/api-keys.json` of `make dev`) keeps, per id, the owner, roles,
expiry, revocation and a salted scrypt hash of the secret; every service reads that file.
An owner has at most two active keys: create the new one, move the client over, revoke the
old one (rotation); a third is refused until one is revoked or has expired.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("reader", "writer", "admin")
PREFIX = "ak"
MAX_ACTIVE_PER_OWNER = 2
# scrypt cost: the secret is 256 random bits, so the hash needs no stretching against guessing;
# these parameters (16 MiB, a few ms) only make a stolen file useless for precomputed tables.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class KeyRefused(Exception):
    """A refused request (e.g. a third active key); the message is one line."""


def dev_keys_file() -> Path:
    """`make dev`'s keys file: api-keys.json in its work directory, found as scripts/dev.py finds
    it (DEV_WORKDIR, else .dev), so `make api-key` adds keys the running stack accepts."""
    return Path(os.environ.get("DEV_WORKDIR", ROOT / ".dev")).resolve() / "api-keys.json"


def keys_file(path: str | None = None) -> Path:
    return Path(path or os.environ.get("API_KEYS_FILE") or dev_keys_file())


def load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"version": 1, "keys": {}}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def save(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (a new file renamed over the old): services never read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".api-keys.")
    with os.fdopen(handle, "w") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")
    os.chmod(tmp, 0o640)
    os.replace(tmp, path)


def active(entry: dict[str, Any], now: float) -> bool:
    expires = entry.get("expires")
    return entry.get("revoked") is None and (expires is None or now < expires)


def create(
    path: Path,
    roles: Iterable[str],
    owner: str,
    *,
    ttl: float | None = 90 * 86400,
    now: float | None = None,
    max_active: int | None = MAX_ACTIVE_PER_OWNER,
) -> tuple[str, str]:
    """Add a key; returns (id, the key). `KeyRefused` when `owner` already has `max_active` keys."""
    now = time.time() if now is None else now
    roles = sorted(set(roles))
    if not roles or any(role not in ROLES for role in roles):
        raise KeyRefused(f"roles must be among {', '.join(ROLES)}")
    data = load(path)
    mine = [key_id for key_id, entry in data["keys"].items() if entry["owner"] == owner and active(entry, now)]
    if max_active is not None and len(mine) >= max_active:
        raise KeyRefused(
            f"{owner} already has {len(mine)} active keys ({', '.join(sorted(mine))}): revoke one first "
            "(make api-key-revoke ID=...)"
        )
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, maxmem=64 * 1024 * 1024, **SCRYPT)
    data["keys"][key_id] = {
        "owner": owner,
        "roles": roles,
        "salt": base64.b64encode(salt).decode(),
        "hash": base64.b64encode(digest).decode(),
        **SCRYPT,
        "created": int(now),
        "expires": None if ttl is None else int(now + ttl),
        "revoked": None,
    }
    save(path, data)
    return key_id, f"{PREFIX}_{key_id}_{secret}"


def revoke(path: Path, key_id: str, *, now: float | None = None) -> None:
    data = load(path)
    key_id = key_id.removeprefix(f"{PREFIX}_").partition("_")[0]
    if key_id not in data["keys"]:
        raise KeyRefused(f"no key {key_id} in {path}")
    data["keys"][key_id]["revoked"] = int(time.time() if now is None else now)
    save(path, data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--file", help="the keys file (default: API_KEYS_FILE, else $DEV_WORKDIR/api-keys.json, DEV_WORKDIR=.dev)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("create", help="create a key and print it once")
    made.add_argument("--role", action="append", choices=ROLES, help="role to grant (repeatable; default reader)")
    made.add_argument("--owner", required=True, help="who holds the key (the services' subject)")
    made.add_argument("--days", type=float, default=90, help="lifetime in days; 0 = no expiry (default 90)")
    gone = commands.add_parser("revoke", help="revoke a key by its id")
    gone.add_argument("id")
    commands.add_parser("list", help="list the keys (never their secrets)")
    args = parser.parse_args(argv)
    path = keys_file(args.file)
    try:
        if args.command == "create":
            ttl = args.days * 86400 if args.days > 0 else None
            key_id, key = create(path, args.role or ["reader"], args.owner, ttl=ttl)
            print(f"created key {key_id} for {args.owner} in {path}; it is shown only now:", file=sys.stderr)
            print(key)
        elif args.command == "revoke":
            revoke(path, args.id)
            print(f"revoked {args.id}", file=sys.stderr)
        else:
            now = time.time()
            for key_id, entry in sorted(load(path)["keys"].items()):
                state = "active" if active(entry, now) else ("revoked" if entry.get("revoked") else "expired")
                print(key_id, entry["owner"], ",".join(entry["roles"]), entry.get("expires"), state)
    except KeyRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A development API key for `make dev` (auth=api-key): `python scripts/token.py --role admin`.

It adds a key valid one hour to the dev keys file (`$DEV_WORKDIR/api-keys.json`, `.dev` by
default, or API_KEYS_FILE) and prints it; call with `curl -H "X-API-Key: $KEY" ...`.
Real keys: `make api-key ROLE=... OWNER=...`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__" and not __package__:
    # Run as a file, Python puts scripts/ first on sys.path, where this file would shadow the
    # standard library's `token` module for anything imported later.
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402

from scripts.api_key import ROLES, create, keys_file  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", action="append", choices=ROLES, help="role to grant (repeatable; default admin)")
    parser.add_argument("--sub", default="alice", help="owner of the key")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    args = parser.parse_args(argv)
    print(create(keys_file(), args.role or ["admin"], args.sub, ttl=args.ttl, max_active=None)[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Migrate one service's database once per rollout: the `migrate` init container runs this.

Every new pod runs it, but only one at a time: it holds a PostgreSQL advisory lock (keyed by
the database) while `alembic upgrade head` runs, so the first pod of a rollout migrates and the
others, once they get the lock, find the schema at head and go on. SQLite (no concurrent pods)
migrates without a lock.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import asyncpg

LOCK_KEY = 7_246_101  # any constant; the same in every pod of every service
UPGRADE = [sys.executable, "-m", "alembic", "upgrade", "head"]


def _upgrade() -> int:
    return subprocess.call(UPGRADE)  # noqa: S603 (a fixed command, no outside input)


async def _with_lock(url: str) -> int:
    connection = await asyncpg.connect(re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url))
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        sys.stdout.write("migrate: lock held, running alembic upgrade head\n")
        sys.stdout.flush()
        return await asyncio.to_thread(_upgrade)
    finally:
        await connection.close()  # ends the session, which releases the lock


def main() -> int:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        return asyncio.run(_with_lock(url))
    return _upgrade()


if __name__ == "__main__":
    sys.exit(main())

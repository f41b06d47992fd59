"""The generated services' tests run on a real PostgreSQL too: the CRUD tests on both databases,
the Alembic migrations on PostgreSQL, a clear skip without it, a failure under MSMVP_REQUIRE_TOOLS=1."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from tests import test_real_servers
from tests.conftest import require_tool, run

# A copy of the default project's users service (the fixture of test_real_servers.py).
service_dir = test_real_servers.service_dir


def _pytest(service: Path, **env: str) -> tuple[int, str]:
    full = {k: v for k, v in os.environ.items() if k not in {"MSMVP_REQUIRE_TOOLS", "TEST_POSTGRES_URL"}}
    args = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-k", "postgresql or migrations"]
    done = run(args, cwd=service, env={**full, **env}, timeout=300)
    return done.returncode, done.stdout + done.stderr


def test_crud_and_migrations_run_on_postgresql(service_dir: Path) -> None:
    require_tool("initdb", "apt-get install postgresql")
    code, out = _pytest(service_dir)
    assert code == 0, out[-3000:]
    assert "skipped" not in out, out[-2000:]
    assert re.search(r"\b\d+ passed", out), out[-2000:]
    on_postgres = run(
        [sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider", "-k", "postgresql"],
        cwd=service_dir,
    ).stdout
    for test in (
        "test_crud_round_trip[postgresql]",
        "test_pagination[postgresql]",
        "test_migrations_build_the_models_schema_and_undo_it",
    ):
        assert test in on_postgres, on_postgres


def test_without_postgresql_the_tests_say_why_or_fail_when_required(service_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "no-postgres"
    empty.mkdir()
    code, out = _pytest(service_dir, PG_BIN=str(empty))
    assert code == 0, out[-3000:]
    assert "PostgreSQL is not installed" in out
    assert re.search(r"\d+ skipped", out), out[-2000:]
    code, out = _pytest(service_dir, PG_BIN=str(empty), MSMVP_REQUIRE_TOOLS="1")
    assert code != 0
    assert "MSMVP_REQUIRE_TOOLS=1 but PostgreSQL is not installed" in out

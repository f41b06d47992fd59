"""The generated services' tests run on a real PostgreSQL too: the CRUD tests on both databases,
the Alembic migrations on PostgreSQL, a clear skip without it, a failure under MSMVP_REQUIRE_TOOLS=1."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool, run


@pytest.fixture()
def users(default_project: Path, tmp_path: Path) -> Path:
    pytest.importorskip("asyncpg", reason="the generated project's dependencies are not installed")
    copy = tmp_path / "users"
    shutil.copytree(default_project / "services" / "users", copy)
    return copy


def _pytest(service: Path, **env: str) -> tuple[int, str]:
    full = {k: v for k, v in os.environ.items() if k not in {"MSMVP_REQUIRE_TOOLS", "TEST_POSTGRES_URL"}}
    args = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-k", "postgresql or migrations"]
    done = run(args, cwd=service, env={**full, **env}, timeout=300)
    return done.returncode, done.stdout + done.stderr


def test_crud_and_migrations_run_on_postgresql(users: Path) -> None:
    require_tool("initdb", "apt-get install postgresql")
    code, out = _pytest(users)
    assert code == 0, out[-3000:]
    assert "skipped" not in out, out[-2000:]
    assert re.search(r"\b\d+ passed", out), out[-2000:]
    on_postgres = run(
        [sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider", "-k", "postgresql"],
        cwd=users,
    ).stdout
    for test in (
        "test_crud_round_trip[postgresql]",
        "test_pagination[postgresql]",
        "test_migrations_build_the_models_schema_and_undo_it",
    ):
        assert test in on_postgres, on_postgres


def test_without_postgresql_the_tests_say_why_or_fail_when_required(users: Path, tmp_path: Path) -> None:
    empty = tmp_path / "no-postgres"
    empty.mkdir()
    code, out = _pytest(users, PG_BIN=str(empty))
    assert code == 0, out[-3000:]
    assert "PostgreSQL is not installed" in out
    assert re.search(r"\d+ skipped", out), out[-2000:]
    code, out = _pytest(users, PG_BIN=str(empty), MSMVP_REQUIRE_TOOLS="1")
    assert code != 0
    assert "MSMVP_REQUIRE_TOOLS=1 but PostgreSQL is not installed" in out

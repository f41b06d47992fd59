"""The generated services work: their own unit tests pass, their code is lint-clean, and their
Dockerfiles pass hadolint.

Each service's suite runs in a subprocess from a copy of the service directory, the way a
developer runs it (`cd services/<name> && python -m pytest`), so the read-only session project
is never written to.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import require_tool, run
from .helpers import all_pass, service_test_env, start_service_tests

# A hyphenated service calling two others, one of them hyphenated too.
THREE_SERVICES = "users,catalog-items,order-items:users+catalog-items"


@pytest.fixture(scope="module")
def three_services(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from msmvp.testing import render_project

    return render_project(tmp_path_factory.mktemp("three") / "acme", name="acme", services=THREE_SERVICES)


@pytest.fixture(params=["default", "three"])
def project(request: pytest.FixtureRequest) -> Path:
    name = "default_project" if request.param == "default" else "three_services"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def _services(project: Path) -> list[Path]:
    return sorted(path for path in (project / "services").iterdir() if path.is_dir())


def test_service_unit_tests_pass(project: Path, tmp_path: Path) -> None:
    """Every service's suite passes from its own directory; the runs go in parallel."""
    pending = {}
    for service in _services(project):
        copy = tmp_path / service.name
        shutil.copytree(service, copy)
        pending[service.name] = start_service_tests(copy, "--basetemp", str(tmp_path / f"pytest-{service.name}"))
    all_pass(pending)  # pytest's last line says how long each took


def test_no_aiosqlite_thread_outlives_its_event_loop(default_project: Path, tmp_path: Path) -> None:
    """The readiness test opens a connection that fails; aiosqlite stops it on its own thread and
    reports to the loop that opened it. With that thread lagging (tests/aiosqlite_lag.py), the
    report still finds the loop running: no thread exception fails the tests after it."""
    copy = tmp_path / "users"
    shutil.copytree(default_project / "services/users", copy)
    env = service_test_env(PYTHONPATH=str(Path(__file__).parent))
    run = start_service_tests(copy, "-p", "aiosqlite_lag", "tests/test_health.py", env=env)
    output = all_pass({"users": run})["users"]
    assert "Event loop is closed" not in output


def test_service_code_is_ruff_clean(project: Path) -> None:
    ruff = require_tool("ruff", "lints the generated Python")
    services = [str(path) for path in _services(project)]
    checked = run([ruff, "check", "--no-cache", *services], cwd=project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    formatted = run([ruff, "format", "--no-cache", "--check", *services], cwd=project)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_dockerfiles_pass_hadolint(project: Path) -> None:
    hadolint = require_tool("hadolint", "lints the generated Dockerfiles")
    for service in _services(project):
        result = run([hadolint, "--failure-threshold", "error", str(service / "Dockerfile")])
        assert result.returncode == 0, f"{service.name}: {result.stdout}{result.stderr}"
        # Warnings are not errors, but the template is meant to have none.
        strict = run([hadolint, "--failure-threshold", "warning", str(service / "Dockerfile")])
        assert strict.returncode == 0, f"{service.name}: {strict.stdout}{strict.stderr}"


def test_services_are_asyncio_with_workers_from_the_environment(default_project: Path) -> None:
    for service in _services(default_project):
        requirements = (service / "requirements.txt").read_text(encoding="utf-8")
        for needed in (
            "sqlalchemy[asyncio]",
            "aiosqlite",
            "asyncpg",
            "purgatory",
            "uvloop",
            "httptools",
            "opentelemetry-sdk",
        ):
            assert needed in requirements, f"{service.name}: {needed} missing"
        for sync_only in ("psycopg", "pybreaker"):
            assert sync_only not in requirements, f"{service.name}: {sync_only} is a synchronous leftover"
        dockerfile = (service / "Dockerfile").read_text(encoding="utf-8")
        # uvicorn reads WEB_CONCURRENCY as its worker count.
        assert "WEB_CONCURRENCY=" in dockerfile

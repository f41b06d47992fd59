"""Changing an option moves a project from one component to another, keeping the user's edits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from msmvp import api, components, grow


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    api.new_project("shop", output_dir=tmp_path)
    return tmp_path / "shop"


def _edit(project: Path, rel: str, marker: str) -> None:
    path = project / rel
    path.write_text(path.read_text() + f"\n# {marker}\n")


def test_switching_cache_off_and_on_keeps_edits(project: Path) -> None:
    _edit(project, "services/users/users_service/routes.py", "my routes edit")
    _edit(project, "deploy/compose/compose.yaml", "my compose edit")
    git(project, "commit", "-qam", "user edits")

    off = grow.upgrade(project, {"cache": "none"})
    assert not off.plan.conflicts
    assert not (project / "deploy/compose/cache.yaml").exists()
    assert "NoCache" in (project / "services/users/users_service/cache.py").read_text()
    assert "redis" not in (project / "services/users/requirements.txt").read_text()
    assert "my routes edit" in (project / "services/users/users_service/routes.py").read_text()
    assert "my compose edit" in (project / "deploy/compose/compose.yaml").read_text()
    assert "deploy/compose/cache.yaml" not in (project / "Makefile").read_text()

    on = grow.upgrade(project, {"cache": "redis"})
    assert not on.plan.conflicts
    assert "REDIS_URL" in (project / "deploy/compose/cache.yaml").read_text()
    assert "RedisCache" in (project / "services/users/users_service/cache.py").read_text()
    assert "my compose edit" in (project / "deploy/compose/compose.yaml").read_text()
    assert git(project, "status", "--porcelain") == ""


def test_switching_iac_off_removes_untouched_files_and_keeps_edited_ones(project: Path) -> None:
    _edit(project, "infra/terraform/variables.tf", "my variable")
    git(project, "commit", "-qam", "user edit")
    outcome = grow.upgrade(project, {"iac": "none"})
    assert not (project / "infra/terraform/main.tf").exists()
    assert "my variable" in (project / "infra/terraform/variables.tf").read_text()
    assert [c.path for c in outcome.plan.changes if c.action == "kept"] == ["infra/terraform/variables.tf"]


def test_switching_the_gateway_moves_its_files_and_keeps_edits(project: Path) -> None:
    _edit(project, "gateway/envoy.yaml", "my envoy tuning")
    _edit(project, "deploy/compose/compose.yaml", "my compose edit")
    git(project, "commit", "-qam", "user edits")

    outcome = grow.upgrade(project, {"gateway": "nginx"})
    assert not outcome.plan.conflicts
    assert (project / "gateway/nginx.conf").is_file()
    assert not (project / "monitoring/prometheus/tests/gateway_test.yml").read_text().count("envoy_")
    assert "nginx" in (project / "deploy/compose/gateway.yaml").read_text()
    assert "nginx" in (project / "scripts/gateway.py").read_text()
    # The edited Envoy config is no longer generated: kept as the user left it, and said so.
    kept = [c.path for c in outcome.plan.changes if c.action == "kept"]
    assert kept == ["gateway/envoy.yaml"]
    assert "my envoy tuning" in (project / "gateway/envoy.yaml").read_text()
    assert "my compose edit" in (project / "deploy/compose/compose.yaml").read_text()
    assert not (project / "tests/integration/test_gateway_envoy.py").exists()
    assert git(project, "status", "--porcelain") == ""


def _prepend(project: Path, rel: str, line: str) -> None:
    path = project / rel
    path.write_text(f"{line}\n" + path.read_text())


@pytest.mark.skipif(
    "oidc" not in components.available().get("auth", ()), reason="auth=oidc is not built (no component.yml)"
)
def test_upgrade_to_oidc_and_back_keeps_edits(project: Path) -> None:
    _prepend(project, "services/users/users_service/routes.py", "# my routes edit")
    _prepend(project, "gateway/envoy.yaml", "# my envoy tuning")
    _prepend(project, "scripts/dev.py", "# my runner edit")
    git(project, "commit", "-qam", "user edits")

    to_oidc = grow.upgrade(project, {"auth": "oidc"})
    assert not to_oidc.plan.conflicts
    auth = (project / "services/users/users_service/auth.py").read_text()
    assert "openid-configuration" in auth
    assert 'ALGORITHMS = ("RS256", "ES256")' in auth
    assert "pyjwt[crypto]" in (project / "services/users/requirements.txt").read_text()
    assert (project / "scripts/issuer.py").is_file()
    envoy = (project / "gateway/envoy.yaml").read_text()
    assert "remote_jwks:" in envoy and "local_jwks:" not in envoy
    assert envoy.startswith("# my envoy tuning")
    assert (project / "services/users/users_service/routes.py").read_text().startswith("# my routes edit")
    assert (project / "scripts/dev.py").read_text().startswith("# my runner edit")
    assert "OIDC_ISSUER" in (project / ".env.example").read_text()
    assert git(project, "status", "--porcelain") == ""

    back = grow.upgrade(project, {"auth": "jwt"})
    assert not back.plan.conflicts
    assert "HS256" in (project / "services/users/users_service/auth.py").read_text()
    assert not (project / "scripts/issuer.py").exists()
    assert "local_jwks:" in (project / "gateway/envoy.yaml").read_text()
    assert (project / "gateway/envoy.yaml").read_text().startswith("# my envoy tuning")
    assert git(project, "status", "--porcelain") == ""


@pytest.mark.skipif(
    "api-key" not in components.available().get("auth", ()), reason="auth=api-key is not built (no component.yml)"
)
def test_upgrade_to_api_keys_and_back_keeps_edits(project: Path) -> None:
    _prepend(project, "services/users/users_service/routes.py", "# my routes edit")
    _prepend(project, "gateway/envoy.yaml", "# my envoy tuning")
    _prepend(project, "scripts/dev.py", "# my runner edit")
    git(project, "commit", "-qam", "user edits")

    to_keys = grow.upgrade(project, {"auth": "api-key"})
    assert not to_keys.plan.conflicts
    auth = (project / "services/users/users_service/auth.py").read_text()
    assert "hmac.compare_digest" in auth and 'HEADER = "X-API-Key"' in auth
    assert "pyjwt" not in (project / "services/users/requirements.txt").read_text()
    assert (project / "scripts/api_key.py").is_file()
    assert not (project / "scripts/token.py").read_text().count("HS256")
    assert "api-key-revoke:" in (project / "mk/auth.mk").read_text()
    envoy = (project / "gateway/envoy.yaml").read_text()
    assert "envoy.filters.http.jwt_authn" not in envoy and "header_name: x-api-key" in envoy
    assert envoy.startswith("# my envoy tuning")
    assert (project / "services/users/users_service/routes.py").read_text().startswith("# my routes edit")
    assert (project / "scripts/dev.py").read_text().startswith("# my runner edit")
    assert "API_KEYS_FILE" in (project / ".env.example").read_text()
    assert git(project, "status", "--porcelain") == ""

    back = grow.upgrade(project, {"auth": "jwt"})
    assert not back.plan.conflicts
    assert "HS256" in (project / "services/users/users_service/auth.py").read_text()
    assert not (project / "scripts/api_key.py").exists()
    assert not (project / "mk/auth.mk").exists()
    assert "local_jwks:" in (project / "gateway/envoy.yaml").read_text()
    assert (project / "gateway/envoy.yaml").read_text().startswith("# my envoy tuning")
    assert git(project, "status", "--porcelain") == ""

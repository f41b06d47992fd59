"""`msmvp upgrade --set ci=...` moves a project from one CI system to another: the old pipeline
files go, the new ones (and docs/ci.md) arrive as a fresh project would have them, and a
user's file elsewhere is left alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from msmvp import api

from .ci_pipelines import new_project
from .helpers import msmvp

PIPELINE_FILES = {
    "github": [".github/workflows/ci.yml", ".github/workflows/scheduled.yml", ".github/dependabot.yml"],
    "gitlab": [".gitlab-ci.yml", "renovate.json"],
    "jenkins": ["Jenkinsfile", "renovate.json"],
    "circleci": [".circleci/config.yml", "renovate.json"],
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("target", ["gitlab", "jenkins", "circleci"])
def test_upgrade_moves_the_project_to_another_ci_system(target: str, tmp_path: Path) -> None:
    api.new_project("shop", output_dir=tmp_path / "from")
    project = tmp_path / "from" / "shop"
    ours = project / "docs" / "release.md"
    ours.write_text("Our release manager approves every deploy.\n")
    _git(project, "add", "docs/release.md")
    _git(project, "commit", "-qm", "a note of ours")

    code, _, err = msmvp(project, "upgrade", "--set", f"ci={target}")
    assert code == 0, err
    fresh = new_project(tmp_path / "fresh", target, "default")
    for rel in PIPELINE_FILES["github"]:
        if rel not in PIPELINE_FILES[target]:
            assert not (project / rel).exists(), rel
    assert not (project / ".github").exists()
    for rel in [*PIPELINE_FILES[target], "docs/ci.md"]:
        assert (project / rel).read_bytes() == (fresh / rel).read_bytes(), rel
    assert ours.read_text() == "Our release manager approves every deploy.\n"
    assert _git(project, "status", "--porcelain") == ""

"""A team grows its domain with the commands while editing the generated code: every edit is kept
through add-resource, add-field, a reference, and a rename (remove with --allow-drop, then add),
and the service's own tests (its resources, migrations with rows, contract) pass at the end."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from msmvp import api, grow_domain

pytestmark = pytest.mark.slow

ROUTES = "services/users/users_service/routes.py"
MODELS = "services/orders/orders_service/models.py"
OWN_TEST = "services/users/tests/test_team.py"
ROUTES_EDIT = "# Team note: the users API is public to partners from Q3.\n"
MODELS_EDIT = "# Team note: orders are archived after seven years.\n"
OWN_TEST_TEXT = '''"""A test the team wrote."""


def test_the_team_can_count() -> None:
    assert 1 + 1 == 2
'''


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)


def _after_docstring(path: Path, line: str) -> None:
    """Insert `line` after the module docstring's closing quotes (a place the render keeps)."""
    text = path.read_text(encoding="utf-8")
    end = text.index('"""', 3) + 3
    path.write_text(text[:end] + "\n" + line + text[end:], encoding="utf-8")


def _edits_kept(repo: Path) -> None:
    assert ROUTES_EDIT in (repo / ROUTES).read_text(encoding="utf-8")
    assert MODELS_EDIT in (repo / MODELS).read_text(encoding="utf-8")
    assert (repo / OWN_TEST).read_text(encoding="utf-8") == OWN_TEST_TEXT


def test_a_domain_grows_with_the_teams_edits_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{key}_NAME", "msmvp tests")
        monkeypatch.setenv(f"GIT_{key}_EMAIL", "tests@msmvp.invalid")
    repo = api.new_project("shop", output_dir=tmp_path).target
    _after_docstring(repo / ROUTES, ROUTES_EDIT)
    _after_docstring(repo / MODELS, MODELS_EDIT)
    (repo / OWN_TEST).write_text(OWN_TEST_TEXT, encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "The team's edits")

    steps: list[Callable[[], Any]] = [
        lambda: grow_domain.add_resource(repo, "users", "user", ["email:email:required:unique", "nick:string(40)"]),
        lambda: grow_domain.add_field(repo, "users.user", ["born_on:date", "active:boolean:default=true"]),
        lambda: grow_domain.add_resource(
            repo,
            "orders",
            "order",
            ["total:decimal(12,2):required", "status:enum(new,paid):default=new"],
            ["users.user"],
        ),
        lambda: grow_domain.remove_field(repo, "users.user", "nick", allow_drop=True),
        lambda: grow_domain.add_field(repo, "users.user", ["nickname:string(40)"]),
    ]
    for step in steps:
        outcome = step()
        assert not outcome.plan.conflicts, [c.path for c in outcome.plan.conflicts]
        _edits_kept(repo)

    versions = sorted(p.name for p in (repo / "services/users/migrations/versions").glob("*.py"))
    assert len(versions) >= 6, versions  # 0001, 0002 and one revision per change of users
    for service in ("users", "orders"):
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            cwd=repo / "services" / service,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

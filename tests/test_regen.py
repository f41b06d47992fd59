"""The edit battery: add-service / remove-service / upgrade never lose a user's edit."""

from __future__ import annotations

import difflib
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from msmvp import api, regen, render
from msmvp.cli import CONFLICT_EXIT, app
from msmvp.manifest import Manifest, Service

from .helpers import msmvp, tree_digest

runner = CliRunner()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def commit_all(repo: Path, message: str = "user edit") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    api.new_project("shop", output_dir=tmp_path)
    return tmp_path / "shop"


def rendered(services: list[Service]) -> dict[str, bytes]:
    manifest = Manifest(name="shop", options={}, services=services)
    return {f.path: f.content for f in render.render(manifest)}


TWO = [Service(name="users"), Service(name="orders", calls=["users"])]
THREE = [*TWO, Service(name="payments", calls=["orders"])]


def changed_line(path: str) -> int:
    """Index of the first line of ``path`` that add-service payments changes."""
    before = rendered(TWO)[path].decode().splitlines()
    after = rendered(THREE)[path].decode().splitlines()
    for tag, i1, _i2, _j1, _j2 in difflib.SequenceMatcher(a=before, b=after).get_opcodes():
        if tag != "equal":
            return max(i1 - 1, 0) if tag == "insert" else i1
    raise AssertionError(f"add-service does not change {path}")


COMPOSE = "deploy/compose/compose.yaml"


def test_untouched_files_are_updated(project: Path) -> None:
    code, _, err = msmvp(project, "add-service", "payments", "--calls", "orders")
    assert code == 0, err
    after = rendered(THREE)
    for path, content in after.items():
        assert (project / path).read_bytes() == content, path
    assert git(project, "status", "--porcelain") == ""
    assert "Add service payments" in git(project, "log", "-1", "--format=%s")


def test_non_overlapping_edit_is_merged(project: Path) -> None:
    compose = project / COMPOSE
    compose.write_text("# ops: keep this comment\n" + compose.read_text())
    commit_all(project)
    code, _, err = msmvp(project, "add-service", "payments", "--calls", "orders")
    assert code == 0, err
    assert compose.read_text() == "# ops: keep this comment\n" + rendered(THREE)[COMPOSE].decode()
    assert "merged" in err


def test_overlapping_edit_gives_conflict_markers_and_a_distinct_exit(project: Path) -> None:
    path = "pyproject.toml"
    lines = (project / path).read_text().splitlines(keepends=True)
    index = changed_line(path)
    lines[index] = "# my own line here\n"
    (project / path).write_text("".join(lines))
    commit_all(project)
    code, _, err = msmvp(project, "add-service", "payments", "--calls", "orders")
    assert code == CONFLICT_EXIT
    text = (project / path).read_text()
    assert "<<<<<<< yours" in text and "=======" in text and ">>>>>>> msmvp" in text
    assert "# my own line here" in text
    assert "1 conflict(s) to resolve: pyproject.toml" in err
    # recorded as a git conflict, and nothing committed
    assert path in git(project, "diff", "--name-only", "--diff-filter=U")
    assert "Add service" not in git(project, "log", "--format=%s")
    # every other file still got the new service
    assert (project / "services/payments/Dockerfile").is_file()


def test_deleted_file_stays_deleted(project: Path) -> None:
    (project / "docs/runbook.md").unlink()
    commit_all(project)
    code, _, err = msmvp(project, "add-service", "payments")
    assert code == 0, err
    assert not (project / "docs/runbook.md").exists()
    assert "skipped" in err and "docs/runbook.md" in err
    # and it stays deleted on later runs too
    assert msmvp(project, "upgrade")[0] == 0
    assert not (project / "docs/runbook.md").exists()


def test_user_file_at_a_new_generated_path_is_never_overwritten(project: Path) -> None:
    mine = project / "services/payments/Dockerfile"
    mine.parent.mkdir(parents=True)
    mine.write_text("FROM scratch\n# mine\n")
    commit_all(project)
    code, _, err = msmvp(project, "add-service", "payments")
    assert code == CONFLICT_EXIT
    assert mine.read_text() == "FROM scratch\n# mine\n"
    assert "services/payments/Dockerfile" in err


def test_crlf_file_is_merged_in_crlf(project: Path) -> None:
    compose = project / COMPOSE
    text = "# windows user\n" + compose.read_text()
    compose.write_bytes(text.replace("\n", "\r\n").encode())
    commit_all(project)
    code, _, err = msmvp(project, "add-service", "payments", "--calls", "orders")
    assert code == 0, err
    data = compose.read_bytes()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    expected = ("# windows user\n" + rendered(THREE)[COMPOSE].decode()).replace("\n", "\r\n").encode()
    assert data == expected


def test_binary_file_changed_on_both_sides_is_kept_and_reported(project: Path) -> None:
    arch = project / "docs/architecture.md"
    blob = b"\x89PNG\r\n\x1a\n\0\0binary"
    arch.write_bytes(blob)
    commit_all(project)
    code, _, err = msmvp(project, "add-service", "payments")
    assert code == CONFLICT_EXIT
    assert arch.read_bytes() == blob
    assert "docs/architecture.md" in err


def test_file_only_the_user_changed_is_kept(project: Path) -> None:
    routes = project / "services/users/users_service/routes.py"
    routes.write_text(routes.read_text() + "\n# reviewed\n")
    commit_all(project)
    assert msmvp(project, "add-service", "payments")[0] == 0
    assert routes.read_text().endswith("\n# reviewed\n")


def test_remove_service_keeps_edited_files_and_removes_the_rest(project: Path) -> None:
    assert msmvp(project, "add-service", "payments", "--calls", "orders")[0] == 0
    routes = project / "services/payments/payments_service/routes.py"
    routes.write_text(routes.read_text() + "\n# business logic\n")
    commit_all(project)
    code, _, err = msmvp(project, "remove-service", "payments")
    assert code == 0, err
    assert routes.is_file()
    assert "kept" in err and "payments_service/routes.py" in err
    remaining = sorted(
        p.relative_to(project).as_posix() for p in (project / "services/payments").rglob("*") if p.is_file()
    )
    assert remaining == ["services/payments/payments_service/routes.py"]
    for path, content in rendered(TWO).items():
        assert (project / path).read_bytes() == content, path


def test_remove_service_refuses_a_service_others_call(project: Path) -> None:
    before = tree_digest(project)
    code, _, err = msmvp(project, "remove-service", "users")
    assert code == 1
    assert "called by orders" in err
    assert tree_digest(project) == before


def test_hand_edited_manifest_then_upgrade(project: Path) -> None:
    data = yaml.safe_load((project / "msmvp.yaml").read_text())
    data["services"].append({"name": "billing", "calls": ["orders"]})
    (project / "msmvp.yaml").write_text(yaml.safe_dump(data))
    commit_all(project)
    code, _, err = msmvp(project, "upgrade")
    assert code == 0, err
    assert (project / "services/billing/billing_service/main.py").is_file()
    assert "billing" in (project / COMPOSE).read_text()


def test_a_second_identical_run_is_a_no_op(project: Path) -> None:
    assert msmvp(project, "add-service", "payments")[0] == 0
    head = git(project, "rev-parse", "HEAD")
    before = tree_digest(project)
    code, _, err = msmvp(project, "upgrade")
    assert code == 0
    assert "Nothing to do" in err
    assert tree_digest(project) == before
    assert git(project, "rev-parse", "HEAD") == head


def test_dry_run_prints_the_diff_and_writes_nothing(project: Path) -> None:
    before = tree_digest(project)
    head = git(project, "rev-parse", "HEAD")
    code, out, _ = msmvp(project, "add-service", "payments", "--dry-run")
    assert code == 0
    assert "+++ b/services/payments/Dockerfile" in out
    assert "+++ b/" + COMPOSE in out
    assert tree_digest(project) == before
    assert git(project, "rev-parse", "HEAD") == head


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [(OSError(28, "No space left on device"), 1, "No space left on device"), (KeyboardInterrupt(), 130, "interrupted")],
)
def test_a_failure_half_way_leaves_the_tree_as_it_was(
    project: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException, code: int, message: str
) -> None:
    compose = project / COMPOSE
    compose.write_text("# edited\n" + compose.read_text())
    commit_all(project)
    before = tree_digest(project)
    real = regen.os.replace
    calls = {"n": 0}

    def flaky(src: object, dst: object) -> None:
        calls["n"] += 1
        if calls["n"] == 12:
            raise exc
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(regen.os, "replace", flaky)
    result = runner.invoke(app, ["add-service", "payments", "--project", str(project)], catch_exceptions=False)
    assert result.exit_code == code
    assert message in result.stderr and "nothing was changed" in result.stderr
    assert calls["n"] == 12
    assert tree_digest(project) == before
    assert git(project, "status", "--porcelain") == ""


def test_dirty_tree_is_refused_unless_allowed(project: Path) -> None:
    (project / "notes.txt").write_text("wip\n")
    code, _, err = msmvp(project, "add-service", "payments")
    assert code == 1
    assert "uncommitted changes in notes.txt" in err
    assert not (project / "services/payments").exists()
    code, _, err = msmvp(project, "add-service", "payments", "--allow-dirty", "--no-commit")
    assert code == 0, err
    assert (project / "services/payments").is_dir()
    assert "?? notes.txt" in git(project, "status", "--porcelain")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add-service", "users"], "already exists"),
        (["add-service", "../x"], "not a DNS label"),
        (["add-service", "pay", "--calls", "nope"], "'nope', which is not a service"),
        (["remove-service", "nope"], "there is no service 'nope'"),
        (["upgrade", "--set", "gateway"], "is not AXIS=VALUE"),
        (["upgrade", "--set", "colour=red"], "unknown option 'colour'"),
        (["upgrade", "--set", "data=eventual"], "eventual consistency needs a message broker"),
    ],
)
def test_bad_input_is_refused_before_any_write(project: Path, args: list[str], message: str) -> None:
    before = tree_digest(project)
    code, _, err = msmvp(project, *args)
    assert code == 1
    assert message in err and "hint:" in err
    assert tree_digest(project) == before


def test_outside_a_project(tmp_path: Path) -> None:
    code, _, err = msmvp(tmp_path, "add-service", "payments")
    assert code == 1
    assert "no msmvp.yaml" in err


def test_merge3_clean_and_conflicting() -> None:
    base = b"a\nb\nc\nd\ne\n"
    ours = b"A\nb\nc\nd\ne\n"
    theirs = b"a\nb\nc\nd\nE\n"
    assert regen.merge3(ours, base, theirs) == (b"A\nb\nc\nd\nE\n", False)
    merged, conflict = regen.merge3(b"x\nb\nc\nd\ne\n", base, b"y\nb\nc\nd\ne\n")
    assert conflict
    assert merged.startswith(b"<<<<<<< yours\nx\n")


def test_commits_without_a_git_identity_use_msmvps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(key, raising=False)
    # user.useConfigOnly makes git refuse to guess an identity from the host
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.useConfigOnly")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "true")
    api.new_project("shop", output_dir=tmp_path)
    repo = tmp_path / "shop"
    assert msmvp(repo, "add-service", "payments")[0] == 0
    assert git(repo, "log", "--format=%an <%ae>").splitlines() == ["msmvp <msmvp@localhost>"] * 2


def test_upgrade_with_a_new_option_adds_and_removes_files(project: Path) -> None:
    compose = project / COMPOSE
    assert compose.is_file()
    code, _, err = msmvp(project, "upgrade", "--set", "deploy=kubernetes")
    assert code == 0, err
    assert not compose.exists()
    assert not (project / "deploy/compose").exists()
    assert (project / "deploy/k8s/base/kustomization.yaml").is_file()
    assert yaml.safe_load((project / "msmvp.yaml").read_text())["options"]["deploy"] == "kubernetes"
    assert "deleted" in err and COMPOSE in err
    assert git(project, "status", "--porcelain") == ""
    # and back: the compose files return, untouched k8s files stay as rendered
    assert msmvp(project, "upgrade", "--set", "deploy=both")[0] == 0
    assert compose.read_bytes() == rendered(TWO)[COMPOSE]

"""Regeneration as a user who keeps msmvp for months meets it: the manifest's comments, symlinks,
conflicts that must clear, Ctrl-C and kill -9 at any moment, and uncommitted edits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from msmvp import api
from msmvp.cli import CONFLICT_EXIT

from .helpers import msmvp, tree_digest

COMPOSE = "deploy/compose/compose.yaml"
ENVOY = "gateway/envoy.yaml"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def commit_all(repo: Path, message: str = "user edit") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def cli(
    project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """msmvp in a child process (signals need a process of its own)."""
    return subprocess.run(
        [sys.executable, "-m", "msmvp", *args, "--project", str(project)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    api.new_project("shop", output_dir=tmp_path)
    return tmp_path / "shop"


# 1. msmvp.yaml is the user's file too


def test_comments_order_and_quoting_in_the_manifest_survive(project: Path) -> None:
    manifest = project / "msmvp.yaml"
    text = manifest.read_text()
    text = text.replace("services:", "# the team owning each service is in CODEOWNERS\nservices:")
    text += "- name: 'billing'  # added by hand for the invoicing work\n  calls: [orders]\n"
    manifest.write_text(text)
    commit_all(project)
    code, _, err = msmvp(project, "upgrade")
    assert code == 0, err
    after = manifest.read_text()
    assert after == text  # nothing about the manifest itself changed, so not one byte moves
    code, _, err = msmvp(project, "add-service", "payments")
    assert code == 0, err
    after = manifest.read_text()
    assert "# the team owning each service is in CODEOWNERS\nservices:" in after
    assert "- name: 'billing'  # added by hand for the invoicing work\n" in after
    assert after.index("'billing'") < after.index("payments")
    assert [s["name"] for s in yaml.safe_load(after)["services"]] == ["users", "orders", "billing", "payments"]


# 2. symlinks


def test_a_symlink_inside_the_project_is_kept_and_its_target_merged(project: Path) -> None:
    (project / "config").mkdir()
    target = project / "config/envoy.yaml"
    target.write_text("# shared with the staging repo\n" + (project / ENVOY).read_text())
    (project / ENVOY).unlink()
    (project / ENVOY).symlink_to("../config/envoy.yaml")
    commit_all(project)
    code, _, err = msmvp(project, "add-service", "payments", "--calls", "orders")
    assert code == 0, err
    assert (project / ENVOY).is_symlink()
    assert os.readlink(project / ENVOY) == "../config/envoy.yaml"
    assert "payments" in target.read_text()
    assert target.read_text().startswith("# shared with the staging repo\n")
    assert "symlink" in err and "config/envoy.yaml" in err
    show = git(project, "show", "--stat", "--summary", "HEAD")
    assert "mode change" not in show
    assert git(project, "ls-tree", "HEAD", ENVOY).startswith("120000")
    assert git(project, "status", "--porcelain") == ""


def test_a_symlink_out_of_the_project_is_left_alone_and_reported(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text((project / ENVOY).read_text())
    (project / ENVOY).unlink()
    (project / ENVOY).symlink_to(outside)
    commit_all(project)
    code, _, err = msmvp(project, "add-service", "payments")
    assert code == CONFLICT_EXIT
    assert (project / ENVOY).is_symlink()
    assert "outside the project" in err
    assert "payments" not in outside.read_text()


# 3. exit 3 must clear


def test_a_users_file_at_a_new_path_is_settled_with_resolve_keep_mine(project: Path) -> None:
    mine = project / "services/payments/Dockerfile"
    mine.parent.mkdir(parents=True)
    mine.write_text("FROM scratch\n# mine\n")
    commit_all(project)
    code, _, err = msmvp(project, "add-service", "payments")
    assert code == CONFLICT_EXIT
    assert "<<<<<<<" not in err  # there are no markers, and the hint says so
    assert "no markers" in err and "msmvp resolve" in err
    code, _, err = msmvp(project, "resolve", "services/payments/Dockerfile", "--keep-mine")
    assert code == 0, err
    assert mine.read_text() == "FROM scratch\n# mine\n"
    commit_all(project, "add payments, keep my Dockerfile")
    code, _, err = msmvp(project, "upgrade")
    assert code == 0, err
    assert mine.read_text() == "FROM scratch\n# mine\n"
    record = yaml.safe_load((project / ".msmvp/provenance.json").read_text())["files"]
    assert record["services/payments/Dockerfile"]["decision"] == "mine"


def test_a_binary_where_a_text_file_was_is_settled_with_take_theirs(project: Path) -> None:
    arch = project / "docs/architecture.md"
    arch.write_bytes(b"\x89PNG\r\n\x1a\n\0\0binary")
    commit_all(project)
    assert msmvp(project, "add-service", "payments")[0] == CONFLICT_EXIT
    code, _, err = msmvp(project, "resolve", "docs/architecture.md", "--take-theirs")
    assert code == 0, err
    assert b"payments" in arch.read_bytes()
    commit_all(project)
    assert msmvp(project, "upgrade")[0] == 0


def test_conflict_markers_can_be_settled_with_keep_mine(project: Path) -> None:
    path = project / "README.md"
    path.write_text(path.read_text().replace("orders", "orders (the shop's core)"))
    commit_all(project)
    code, _, _ = msmvp(project, "add-service", "payments", "--calls", "orders")
    if code == 0:
        pytest.skip("this README edit merges cleanly")
    assert "<<<<<<<" in path.read_text()
    assert msmvp(project, "resolve", "README.md", "--keep-mine")[0] == 0
    assert "<<<<<<<" not in path.read_text() and "(the shop's core)" in path.read_text()
    assert git(project, "diff", "--name-only", "--diff-filter=U") == ""
    commit_all(project)
    assert msmvp(project, "upgrade")[0] == 0


def test_an_option_switched_off_and_on_again_does_not_block(project: Path) -> None:
    k8s = next(p for p in sorted((project / "deploy/k8s").rglob("*.yaml")) if p.is_file())
    k8s.write_text("# tuned for our cluster\n" + k8s.read_text())
    commit_all(project)
    code, _, err = msmvp(project, "upgrade", "--set", "deploy=compose")
    assert code == 0, err
    assert k8s.read_text().startswith("# tuned for our cluster\n")
    code, _, err = msmvp(project, "upgrade", "--set", "deploy=both")
    assert code == 0, err
    assert k8s.read_text().startswith("# tuned for our cluster\n")
    assert msmvp(project, "upgrade")[0] == 0


def test_a_service_removed_and_added_again_does_not_block(project: Path) -> None:
    routes = project / "services/orders/orders_service/routes.py"
    routes.write_text(routes.read_text() + "\n# business logic\n")
    commit_all(project)
    assert msmvp(project, "remove-service", "orders")[0] == 0
    code, _, err = msmvp(project, "add-service", "orders", "--calls", "users")
    assert code == 0, err
    assert routes.read_text().endswith("\n# business logic\n")


def test_resolve_needs_exactly_one_choice_and_a_generated_path(project: Path) -> None:
    assert msmvp(project, "resolve", "README.md")[0] == 2
    code, _, err = msmvp(project, "resolve", "notes/mine.txt", "--keep-mine")
    assert code == 1 and "not a file msmvp generates" in err


# 4. Ctrl-C late in a run


def _fault_points(project: Path, *args: str) -> int:
    probe = project.parent / "probe"
    subprocess.run(["cp", "-a", str(project), str(probe)], check=True)
    result = cli(probe, *args, env={"MSMVP_FAULT_AT": "count"})
    assert result.returncode == 0, result.stderr
    return int(result.stderr.rsplit("fault points: ", 1)[1].split()[0])


def test_ctrl_c_past_the_point_of_no_return_finishes_and_says_so(project: Path) -> None:
    total = _fault_points(project, "add-service", "payments")
    result = cli(project, "add-service", "payments", env={"MSMVP_FAULT_AT": str(total - 1)})
    assert "nothing was changed" not in result.stderr
    assert "msmvp finished the run" in result.stderr
    assert "Add service payments" in git(project, "log", "-1", "--format=%s")
    assert git(project, "status", "--porcelain") == ""
    assert not (project / ".msmvp/txn").exists()


def test_ctrl_c_before_it_rolls_back_and_says_so(project: Path) -> None:
    before = tree_digest(project)
    head = git(project, "rev-parse", "HEAD")
    result = cli(project, "add-service", "payments", env={"MSMVP_FAULT_AT": "20"})
    assert result.returncode == 130
    assert "interrupted; nothing was changed" in result.stderr
    assert tree_digest(project) == before
    assert git(project, "rev-parse", "HEAD") == head


# 5. kill -9


def test_the_next_command_undoes_a_killed_run_and_says_so(project: Path) -> None:
    compose = project / COMPOSE
    compose.write_text("# mine\n" + compose.read_text())
    commit_all(project)
    before = tree_digest(project)
    total = _fault_points(project, "add-service", "payments")
    killed = cli(
        project, "add-service", "payments", env={"MSMVP_FAULT_AT": str(total * 2 // 3), "MSMVP_FAULT_SIGNAL": "KILL"}
    )
    assert killed.returncode == -signal.SIGKILL
    assert (project / ".msmvp/txn").is_dir()  # it really died half way
    result = cli(project, "status")
    assert "found an interrupted `msmvp add-service`" in result.stderr
    assert "restored" in result.stderr
    assert tree_digest(project) == before
    assert git(project, "status", "--porcelain") == ""
    leftovers = [p for p in project.rglob("*") if ".msmvp-" in p.name or p.name.startswith(".msmvp-txn")]
    assert leftovers == []


# 6. --allow-dirty


def test_allow_dirty_commits_only_msmvps_changes(project: Path) -> None:
    compose = project / COMPOSE
    compose.write_text("# wip: trying a new volume\n" + compose.read_text())
    routes = project / "services/users/users_service/routes.py"
    routes.write_text(routes.read_text() + "\n# half-done refactor\n")
    code, _, err = msmvp(project, "add-service", "payments", "--calls", "orders", "--allow-dirty")
    assert code == 0, err
    committed = git(project, "show", f"HEAD:{COMPOSE}")
    assert "payments" in committed and "# wip" not in committed
    assert "# half-done refactor" not in git(project, "show", "HEAD:services/users/users_service/routes.py")
    assert compose.read_text().startswith("# wip: trying a new volume\n") and "payments" in compose.read_text()
    assert routes.read_text().endswith("\n# half-done refactor\n")
    status = git(project, "status", "--porcelain").splitlines()
    assert sorted(status) == sorted([f" M {COMPOSE}", " M services/users/users_service/routes.py"])
    assert "stays uncommitted" in err


# 7. Ctrl-C while starting


def test_ctrl_c_while_loading_prints_one_line(tmp_path: Path) -> None:
    """A Ctrl-C that lands while the CLI imports its libraries (simulated at `import typer`)."""
    import tomllib

    script = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]["scripts"]
    module, func = script["msmvp"].split(":")
    code = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def fake(name, *a, **k):\n"
        "    if name == 'typer':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = fake\n"
        "sys.argv = ['msmvp', '--version']\n"
        f"from {module} import {func}\n"
        f"{func}()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 130
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "interrupted" in result.stderr


def test_ctrl_c_at_any_moment_of_start_up_never_prints_a_traceback(tmp_path: Path) -> None:
    """Real SIGINTs from the moment the entry point is loaded until the command has run."""
    start = "import sys\nfrom msmvp.entry import main\n"  # the console script's first line, too
    # Nothing but main() after the marker: a signal before it would be this script's, not msmvp's.
    start += "sys.argv = ['msmvp', 'status', '--project', sys.argv[1]]\nprint('up', flush=True)\nmain()\n"
    for delay in (0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.4):
        proc = subprocess.Popen(
            [sys.executable, "-c", start, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == "up\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err, (delay, err)
        assert len(err.strip().splitlines()) <= 1, (delay, err)


# The interruption battery: SIGINT and SIGKILL across a whole run, then the next command.


def _leftovers(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if ".git" not in p.parts and (".msmvp-" in p.name or p.name == "txn")
    )


def test_interrupted_anywhere_the_next_command_leaves_before_or_after_with_every_edit(
    project: Path, tmp_path: Path
) -> None:
    compose = project / COMPOSE
    compose.write_text("# committed edit\n" + compose.read_text())
    commit_all(project)
    routes = project / "services/users/users_service/routes.py"
    routes.write_text(routes.read_text() + "\n# uncommitted edit\n")
    args = ("add-service", "payments", "--calls", "orders", "--allow-dirty")
    before = tree_digest(project)
    head = git(project, "rev-parse", "HEAD")
    reference = tmp_path / "reference"
    subprocess.run(["cp", "-a", str(project), str(reference)], check=True)
    assert cli(reference, *args).returncode == 0
    after = tree_digest(reference)
    total = _fault_points(project, *args)
    points = sorted({1, 2, total // 2, total - 2, total - 1, total, *range(3, total, max(1, total // 6))})
    seen = {"before": 0, "after": 0}
    for sig in ("INT", "KILL"):
        for point in points:
            run = tmp_path / f"run-{sig}-{point}"
            subprocess.run(["cp", "-a", str(project), str(run)], check=True)
            cli(run, *args, env={"MSMVP_FAULT_AT": str(point), "MSMVP_FAULT_SIGNAL": sig})
            nxt = cli(run, "status")
            assert "Traceback" not in nxt.stderr
            state = tree_digest(run)
            label = f"{sig} at step {point} of {total}"
            if state == before:
                seen["before"] += 1
                assert git(run, "rev-parse", "HEAD") == head, label
            else:
                assert state == after, label
                seen["after"] += 1
                assert git(run, "log", "-1", "--format=%s").startswith("Add service payments"), label
            assert git(run, "status", "--porcelain") == " M services/users/users_service/routes.py\n", label
            assert routes.name in git(run, "diff", "--name-only")
            assert _leftovers(run) == [], label
            if sig == "KILL" and state == before and point > 1:
                assert "found an interrupted `msmvp add-service`" in nxt.stderr, label
    assert seen["before"] and seen["after"]


def _new(out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "msmvp", "new", "shop", "--defaults", "--output-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )


def _new_fault_points(out: Path) -> int:
    out.mkdir()
    probe = _new(out, {"MSMVP_FAULT_AT": "count"})
    assert probe.returncode == 0, probe.stderr
    return int(probe.stderr.rsplit("fault points: ", 1)[1].split()[0])


@pytest.mark.parametrize("sig", ["INT", "KILL"])
def test_an_interrupted_new_leaves_no_folder_and_no_repository(tmp_path: Path, sig: str) -> None:
    """`new` makes its repository while it writes the files (git on the other core): Ctrl-C or
    kill -9 anywhere before the point of no return takes the half-made repository away too."""
    out = tmp_path / "out"
    out.mkdir()
    total = _new_fault_points(tmp_path / "probe")
    files = len(list((tmp_path / "probe/shop").rglob("*")))
    # Early (git may still be starting), while staging, while moving in, just before the end.
    for point in sorted({1, 2, 5, total // 4, total // 2, total * 3 // 4, total - 4}):
        label = f"{sig} at step {point} of {total}"
        broken = _new(out, {"MSMVP_FAULT_AT": str(point), "MSMVP_FAULT_SIGNAL": sig})
        if sig == "INT":
            assert broken.returncode == 130, (label, broken.stderr)
            assert "interrupted; nothing was changed" in broken.stderr, label
            assert not (out / "shop").exists(), label
            continue
        assert broken.returncode == -signal.SIGKILL, label
        if point > 1:  # past the journal's first write: there is a run to undo
            assert (out / "shop/.msmvp/txn").is_dir(), label
        result = _new(out, {})
        assert result.returncode == 0, (label, result.stderr)
        if point > 1:
            assert "found an interrupted `msmvp new shop`" in result.stderr, label
        assert git(out / "shop", "status", "--porcelain") == "", label
        assert git(out / "shop", "rev-list", "--count", "HEAD") == "1\n", label
        assert _leftovers(out / "shop") == [], label
        assert len(list((out / "shop").rglob("*"))) == files, label
        subprocess.run(["rm", "-rf", str(out / "shop")], check=True)


def test_ctrl_c_past_the_point_of_no_return_of_new_still_commits(tmp_path: Path) -> None:
    total = _new_fault_points(tmp_path / "probe")
    result = _new(tmp_path, {"MSMVP_FAULT_AT": str(total - 1)})
    assert result.returncode == 0, result.stderr
    assert "msmvp finished the run" in result.stderr
    assert git(tmp_path / "shop", "status", "--porcelain") == ""
    assert git(tmp_path / "shop", "log", "-1", "--format=%s").startswith("Generate shop")
    assert _leftovers(tmp_path / "shop") == []

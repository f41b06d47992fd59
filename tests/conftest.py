"""Shared fixtures: an isolated HOME and git author, rendered projects, and tool lookup."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from msmvp import options

REPO_ROOT = Path(__file__).resolve().parent.parent
# The pytest runs these tests start (a generated project's or service's own tests) are not xdist
# workers of this run; a plugin that reads this variable (pytest-benchmark) would take them for
# one and warn, which their `filterwarnings = error` turns into a failure.
os.environ.pop("PYTEST_XDIST_WORKER", None)
REQUIRE_TOOLS = os.environ.get("MSMVP_REQUIRE_TOOLS") == "1"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "msmvp tests")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "tests@msmvp.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "msmvp tests")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "tests@msmvp.invalid")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture()
def not_built(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``not_built(data=("shared-db",))``: treat those built values as planned but not built yet, so
    a test of the refusal does not depend on which values this version builds."""

    def hide(**values: tuple[str, ...]) -> None:
        built = options.Axis.built.fget
        assert built is not None
        monkeypatch.setattr(
            options.Axis, "built", property(lambda axis: built(axis) - frozenset(values.get(axis.name, ())))
        )

    return hide


def require_tool(name: str, why: str = "") -> str:
    """Return the path of a real tool, or skip the test (fail when MSMVP_REQUIRE_TOOLS=1)."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed{': ' + why if why else ''} (see .ci/install-tools.sh)"
        if REQUIRE_TOOLS:
            pytest.fail(f"MSMVP_REQUIRE_TOOLS=1 but {reason}")
        pytest.skip(reason)
    return path


def run(
    cmd: list[str], cwd: Path | None = None, timeout: float = 120, **kw: object
) -> subprocess.CompletedProcess[str]:
    """Run a command, returning its result; the caller asserts on returncode/output."""
    return subprocess.run(cmd, cwd=cwd, timeout=timeout, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload, no-any-return]


def _render(dest: Path, **options: str) -> Path:
    from msmvp.testing import render_project

    render_project(dest, **options)
    return dest


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The default project `shop` (services users, orders) rendered once per session. Read-only."""
    yield _render(tmp_path_factory.mktemp("default") / "shop")


@pytest.fixture()
def project_factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Render a project with given options into a fresh temp dir: project_factory(gateway='nginx')."""

    def make(name: str = "shop", **options: str) -> Path:
        return _render(tmp_path / name, name=name, **options)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def three_services(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hyphenated project with three services, one of them hyphenated too. Read-only."""
    return _render(
        tmp_path_factory.mktemp("three") / "acme-store", name="acme-store", services="users,orders,order-items"
    )


def service_names(project: Path) -> list[str]:
    """The service names in a project's msmvp.yaml, in order."""
    import yaml

    return [str(s["name"]) for s in yaml.safe_load((project / "msmvp.yaml").read_text())["services"]]


def run_generated_stack_tests(project: Path, tmp_path: Path) -> str:
    """The generated project's repo-level tests (tests/: integration and failure, through its real
    gateway on free loopback ports) in a copy of it; asserts all pass, returns the output."""
    copy = tmp_path / project.name
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".git"))
    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET"}
    result = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=copy, env=env, timeout=600
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    last = output.strip().splitlines()[-1]
    assert " passed" in last and "skipped" not in last and "failed" not in last, output[-3000:]
    return output

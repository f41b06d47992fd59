"""The services' gRPC contracts (services/*/proto) pass `buf lint` and break nothing that the
previous commit's contracts promised (`buf breaking`). buf comes from npm (@bufbuild/buf); without
it these tests are skipped, unless MSMVP_REQUIRE_TOOLS=1 (CI) makes that a failure.

A caller's copy of each callee's contract (services/<caller>/proto/<callee module>/, from which its
image compiles its stubs) is the callee's own contract, byte for byte."""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = shutil.which("buf")


def _buf(*args: str) -> subprocess.CompletedProcess[str]:
    if BUF is None:
        if os.environ.get("MSMVP_REQUIRE_TOOLS") == "1":
            pytest.fail("MSMVP_REQUIRE_TOOLS=1 but buf is not installed (npm install -g @bufbuild/buf)")
        pytest.skip("buf is not installed (npm install -g @bufbuild/buf)")
    return subprocess.run([BUF, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603


def _has_commit(ref: str) -> bool:
    git = shutil.which("git")
    if git is None:
        return False
    probe = subprocess.run([git, "rev-parse", "--verify", "--quiet", ref], cwd=ROOT, capture_output=True, check=False)  # noqa: S603
    return probe.returncode == 0


def test_contracts_pass_buf_lint() -> None:
    result = _buf("lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_contracts_do_not_break_the_previous_commits() -> None:
    against = next((ref for ref in ("HEAD~1", "HEAD") if _has_commit(ref)), None)
    if against is None:
        pytest.skip("no commit to compare with yet")
    result = _buf("breaking", "--against", f".git#ref={against}")
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_callers_copy_of_a_contract_is_its_owners() -> None:
    protoc = runpy.run_path(str(ROOT / "scripts" / "protoc.py"), run_name="protoc")
    stale = [
        f"{copy.relative_to(ROOT)} differs from {owner.relative_to(ROOT)}" for copy, owner in protoc["stale_copies"]()
    ]
    assert not stale, "; ".join(stale) + ": run `make codegen` to refresh the copies, then commit them"

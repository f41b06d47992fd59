"""The package as users get it: its public API, a real wheel with its data, an instant --help."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import msmvp

from .conftest import REPO_ROOT


def test_public_api_is_small_and_explicit() -> None:
    assert sorted(msmvp.__all__) == ["MsmvpError", "__version__", "new_project"]
    for name in msmvp.__all__:
        assert getattr(msmvp, name) is not None


def test_help_does_not_import_the_heavy_parts() -> None:
    code = "import sys, msmvp.cli; print(' '.join(m for m in ('jinja2', 'git', 'msmvp.render') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


@pytest.mark.slow
def test_wheel_ships_templates_and_checklists(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO_ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    wheel = next(tmp_path.glob("msmvp-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "msmvp/checklists/microservices-mvp.yaml" in names
    assert "msmvp/templates/base/project/copier.yml" in names
    assert "msmvp/templates/base/service/copier.yml" in names
    assert any(n.startswith("msmvp/templates/base/service/template/") for n in names)
    # Every component folder ships, with the component.yml that makes its value built.
    shipped = {n.split("/")[3] + "/" + n.split("/")[4] for n in names if n.endswith("/component.yml")}
    in_tree = {
        f"{c.parent.parent.name}/{c.parent.name}"
        for c in (REPO_ROOT / "templates" / "components").glob("*/*/component.yml")
    }
    assert shipped == in_tree
    assert {"gateway/envoy", "cache/none", "deploy/both"} <= shipped
    assert "msmvp/py.typed" in names

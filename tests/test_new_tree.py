"""The default render as a tree: golden digest, atomic writes, provenance, git, copier parity."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from msmvp import api, options
from msmvp.manifest import Manifest
from msmvp.provenance import sha256
from msmvp.render import LOCK_TEMPLATE

from .helpers import assert_files, tree_digest

GOLDEN = Path(__file__).parent / "golden" / "default-tree.json"
UPDATE = os.environ.get("MSMVP_UPDATE_GOLDEN") == "1"


def test_default_render_matches_the_golden_tree(default_project: Path) -> None:
    """Any change to a template shows here; refresh with MSMVP_UPDATE_GOLDEN=1 after review."""
    actual = tree_digest(default_project, exclude={".msmvp", "msmvp.yaml"})
    if UPDATE:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    assert_files(actual, json.loads(GOLDEN.read_text()))


def test_provenance_records_every_generated_file(default_project: Path) -> None:
    record = json.loads((default_project / ".msmvp" / "provenance.json").read_text())
    files = record["files"]
    on_disk = tree_digest(default_project, exclude={".msmvp", "msmvp.yaml"})
    assert set(files) == set(on_disk)
    for path, rec in files.items():
        assert rec["sha256"] == on_disk[path] == sha256((default_project / path).read_bytes())
        source = rec["template"].split(":", 1)[0]
        assert source in {"base/project", "base/service", LOCK_TEMPLATE} or source.startswith("components/"), source
    assert "1.1" in files["services/users/users_service/main.py"]["items"]
    assert files["services/users/requirements.lock"]["template"] == f"{LOCK_TEMPLATE}:services/users/requirements.txt"


def test_manifest_is_the_source_of_truth(default_project: Path) -> None:
    manifest = Manifest.model_validate(yaml.safe_load((default_project / "msmvp.yaml").read_text()))
    assert [s.name for s in manifest.services] == ["users", "orders"]
    assert manifest.services[1].calls == ["users"]


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failure_half_way_leaves_nothing(exc: BaseException, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from msmvp import _apply

    real = _apply.os.replace
    count = {"n": 0}

    def flaky(src: object, dst: object) -> None:
        count["n"] += 1
        if count["n"] == 10:
            raise exc
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(_apply.os, "replace", flaky)
    with pytest.raises(type(exc)):
        api.new_project("shop", output_dir=tmp_path, git=False)
    assert list(tmp_path.iterdir()) == []


def test_new_commits_everything(tmp_path: Path) -> None:
    result = api.new_project("shop", output_dir=tmp_path)
    repo = tmp_path / "shop"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True)
    assert status.stdout == ""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
    assert head.stdout.strip() == result.commit
    tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    assert "msmvp.yaml" in tracked
    assert ".msmvp/provenance.json" in tracked


def _changes(combo: dict[str, str]) -> int:
    return sum(value != options.defaults()[axis] for axis, value in combo.items())


def _one_of_each() -> list[dict[str, str]]:
    """Every built value at least once (the others at their defaults)."""
    combos = [options.defaults()]
    for axis in options.AXES:
        for value in sorted(axis.built - {axis.default}):
            combo: dict[str, str] | None = {**options.defaults(), axis.name: value}
            if any(rule.broken_by(combo) for rule in options.RULES):
                # A value a rule ties to another axis (data=eventual needs a broker): one more change.
                combo = next((c for c in options.combinations() if c[axis.name] == value and _changes(c) == 2), None)
            if combo is not None:
                combos.append(combo)
    return combos


@pytest.mark.slow
@pytest.mark.parametrize(
    "combo",
    _one_of_each(),
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items() if v != options.defaults()[k]) or "defaults",
)
def test_copier_copy_gives_the_same_tree(combo: dict[str, str], tmp_path: Path) -> None:
    """The templates are real copier templates: copying the base and the chosen components
    with the same answers gives what msmvp renders."""
    copier = pytest.importorskip("copier")
    from msmvp.render import project_context, template_roots

    api.new_project("shop", output_dir=tmp_path / "msmvp", options=combo, git=False)
    rendered = tmp_path / "msmvp" / "shop"
    manifest = Manifest.model_validate(yaml.safe_load((rendered / "msmvp.yaml").read_text()))
    context = project_context(manifest)
    dst = tmp_path / "copier" / "shop"
    common = {"defaults": True, "unsafe": True, "quiet": True, "overwrite": True}
    for root in template_roots(manifest.options, "project"):
        copier.run_copy(str(root), dst, data=context, **common)
    for service in context["services"]:
        callees = [c for c in context["services"] if c["name"] in service["calls"]]
        for root in template_roots(manifest.options, "service"):
            # Files whose path names `callee` are copied once per service this one calls, with it.
            for data in [{}, *({"callee": callee} for callee in callees)]:
                copier.run_copy(
                    str(root),
                    dst / "services" / service["name"],
                    data={**context, "service": service, **data},
                    **common,
                )
    # The locks are msmvp's, not a template's: each is taken from msmvp's union lock (msmvp.locks).
    exclude = {".msmvp", "msmvp.yaml", *(p.relative_to(rendered).as_posix() for p in rendered.rglob("*.lock"))}
    assert_files(tree_digest(dst, exclude), tree_digest(rendered, exclude))

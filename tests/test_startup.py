"""What an ordinary run loads: no typer and, once the caches are warm, no pydantic or packaging;
what the caches give is what the work they save gives; and the plain readers of msmvp.yaml, the
checklist and component.yml give what the pydantic schemas give."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from msmvp import checklist, components
from msmvp.errors import ManifestError
from msmvp.manifest import Manifest, _schema, from_data

from .conftest import REPO_ROOT


def _imported(args: list[str], cwd: Path, cache: Path) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "XDG_CACHE_HOME": str(cache)}
    env.pop("COVERAGE_PROCESS_START", None)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "msmvp", *args], cwd=cwd, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time")}


def test_new_and_status_import_neither_typer_nor_pydantic_once_the_caches_are_warm(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _imported(["new", "shop", "--defaults", "--no-git"], tmp_path, cache)
    assert "pydantic" in first  # a cold cache: the checklist and component.yml files are validated
    again = _imported(["new", "shop2", "--defaults"], tmp_path, cache)
    assert "msmvp.commands" in again and "jinja2" in again
    assert not {"typer", "pydantic", "packaging", "msmvp.cli"} & again
    status = _imported(["status"], tmp_path / "shop", cache)
    assert "msmvp.status" in status and "rich" in status
    assert not {"typer", "pydantic", "msmvp.cli", "jinja2"} & status


def test_a_declared_domain_built_once_is_not_built_again(tmp_path: Path) -> None:
    """The OpenAPI fragments (pydantic) and the locks (packaging) come from the cache the second
    time, byte for byte what building them gave; a damaged entry is built again."""
    cache = tmp_path / "cache"
    answers = REPO_ROOT / "bench" / "domain-example.yaml"  # 3 services, 6 resources
    args = ["new", "--defaults", "--no-git", "--answers", str(answers)]
    first = _imported([*args[:1], "xqa", *args[1:]], tmp_path, cache)
    assert {"msmvp.openapi_build", "packaging"} <= first
    again = _imported([*args[:1], "xqb", *args[1:]], tmp_path, cache)
    assert not {"pydantic", "packaging", "msmvp.openapi_build"} & again

    entries = sorted((cache / "msmvp" / "openapi").iterdir()) + sorted((cache / "msmvp" / "locks").iterdir())
    assert len(entries) == 6 + 1  # a resource each; one plan for the project's requirements files
    for entry in entries:
        entry.write_bytes(b"not a pickle")
    damaged = _imported([*args[:1], "xqc", *args[1:]], tmp_path, cache)
    assert {"msmvp.openapi_build", "packaging"} <= damaged

    def tree(root: Path) -> dict[str, bytes]:  # the files the caches hold parts of, the project's name aside
        files = [p for p in sorted(root.rglob("*")) if p.suffix in (".json", ".lock") and ".msmvp" not in p.parts]
        return {str(p.relative_to(root)): p.read_bytes().replace(root.name.encode(), b"NAME") for p in files}

    one = tree(tmp_path / "xqa")
    assert one == tree(tmp_path / "xqb") == tree(tmp_path / "xqc")
    assert '"OrderIn"' in one["services/orders/openapi.json"].decode()


WELL_FORMED: list[dict[str, Any]] = [
    {},
    {"name": "shop"},
    {"msmvp_version": "0.1.0", "name": "a-b", "checklist": "builtin", "options": {"cache": "none"}},
    {"name": "shop", "services": [{"name": "users"}, {"name": "orders", "calls": ["users"]}]},
]
NOT_PLAIN: list[Any] = [
    {"name": 3},
    {"nme": "shop"},
    {"options": {"cache": False}},
    {"options": None},
    {"services": None},
    {"services": [{"name": "users"}, {"name": "users"}]},
    {"services": [{"name": "users", "calls": ["users"]}]},
    {"services": [{"name": "users", "calls": ["nobody"]}]},
    {"services": [{"name": "Users"}]},
    {"services": [{"name": "users", "calls": "orders"}]},
    {"services": [{"name": "users", "port": 1}]},
    {"services": ["users"]},
]


@pytest.mark.parametrize("data", WELL_FORMED)
def test_a_well_formed_manifest_reads_as_the_schema_reads_it(data: dict[str, Any]) -> None:
    plain = Manifest.model_validate(data)
    schema: Any = _schema().model_validate(data)
    # A service without declared resources has no `resources` key (the schema keeps it as None).
    assert plain.model_dump() == schema.model_dump(mode="json", exclude_none=True)


@pytest.mark.parametrize("data", NOT_PLAIN)
def test_anything_else_is_the_schemas_to_judge_with_its_own_message(data: Any) -> None:
    from pydantic import ValidationError

    try:
        expected: Any = _schema().model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "top level"
        with pytest.raises(ManifestError) as raised:
            from_data(data, "msmvp.yaml", ManifestError)
        assert raised.value.message == f"msmvp.yaml: {where}: {err['msg'].removeprefix('Value error, ')}"
    else:
        assert Manifest.model_validate(data).model_dump() == expected.model_dump(mode="json")


def test_the_cached_checklist_and_components_are_the_validated_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    checklist._load_cached.cache_clear()
    components.load.cache_clear()
    cold = checklist.load(), components.load("gateway", "envoy")
    assert list((tmp_path / "msmvp" / "checklists").iterdir()) and list((tmp_path / "msmvp" / "components").iterdir())
    checklist._load_cached.cache_clear()
    components.load.cache_clear()
    monkeypatch.setattr(checklist, "_schemas", None)  # a warm cache must not need the schemas
    monkeypatch.setattr(components, "_schemas", None)
    warm = checklist.load(), components.load("gateway", "envoy")
    assert warm == cold
    assert len(warm[0].items) == 50
    checklist._load_cached.cache_clear()
    components.load.cache_clear()


def test_the_plain_classes_have_the_fields_of_their_schemas() -> None:
    from dataclasses import fields

    schemas = checklist._schemas()
    item = schemas["item"]
    pairs = [
        (checklist.Item, item),
        (checklist.Evidence, item.model_fields["evidence"].annotation),
        (checklist.Generator, item.model_fields["generated_by"].annotation.__args__[0]),
    ]
    evidence = item.model_fields["evidence"].annotation
    for kind, plain in (("present", checklist.PathCheck), ("configured", checklist.ContentCheck)):
        pairs.append((plain, evidence.model_fields[kind].annotation.__args__[0]))
    pairs.append((checklist.CommandCheck, evidence.model_fields["verified"].annotation.__args__[0]))
    pairs.append((Manifest, _schema()))
    pairs.append((components.Spec, components._schemas()["spec"]))
    for plain, schema in pairs:
        assert [f.name for f in fields(plain)] == list(schema.model_fields), plain.__name__


def _scaffolded_on_disk(root: Path) -> set[str]:
    from msmvp import evidence, manifest

    loaded = manifest.load(root)
    results = evidence.evaluate_all(
        checklist.load(), loaded.options, loaded.service_contexts(), evidence.DirSource(root)
    )
    return {r.item.id for r in results if r.scaffolded}


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count every `Path.read_text` by path until `monkeypatch.undo()`."""
    reads: Counter[str] = Counter()
    read_text = Path.read_text

    def counted(self: Path, *args: Any, **kwargs: Any) -> str:
        reads[self.as_posix()] += 1
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counted)
    return reads


def test_the_items_an_add_service_completes_are_those_a_fresh_look_at_the_disk_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """add-service evaluates the tree after its writes from what it read before plus what it
    wrote, reading each evidence file once."""
    from msmvp import grow
    from msmvp.testing import render_project

    root = render_project(tmp_path / "shop", services="users")
    before = _scaffolded_on_disk(root)
    reads = _count_reads(monkeypatch)
    outcome = grow.add_service(root, "orders", ["users"], commit=False)
    monkeypatch.undo()
    routes = (root / "services/users/users_service/routes.py").as_posix()
    assert reads[routes] <= 1  # evidence of several items, before and after: one read at most
    expected = sorted(_scaffolded_on_disk(root) - before, key=lambda i: [int(p) for p in i.split(".")])
    assert outcome.newly_done == expected
    assert outcome.newly_done  # one service calling another completes the resilience items


def test_status_reads_each_evidence_file_once(default_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from msmvp import status

    reads = _count_reads(monkeypatch)
    report = status.compute(default_project)
    monkeypatch.undo()
    assert len(report.items) == 50
    assert reads[(default_project / "services/users/users_service/routes.py").as_posix()] == 1


def test_a_merge_in_a_committed_project_takes_its_base_from_git_not_a_second_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from msmvp import grow, render
    from msmvp.api import new_project

    root = new_project("shop", output_dir=tmp_path, services="users").target
    readme = root / "README.md"
    readme.write_text(readme.read_text() + "\nTeam notes.\n")
    subprocess.run(["git", "commit", "-qam", "notes"], cwd=root, check=True)
    manifests: list[list[str]] = []
    real = render.render_project

    def counted(manifest: Manifest, *args: Any) -> render.Rendered:
        manifests.append([s.name for s in manifest.services])
        return real(manifest, *args)

    monkeypatch.setattr(render, "render_project", counted)
    outcome = grow.add_service(root, "orders", ["users"])
    assert manifests == [["users", "orders"]]  # the new project only
    merged = {c.path: c.action for c in outcome.plan.changes}
    assert merged["README.md"] == "merge"
    assert readme.read_text().endswith("\nTeam notes.\n") and "orders" in readme.read_text()

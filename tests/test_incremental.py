"""Incremental regeneration: a service folder whose inputs are unchanged is not rendered again,
and the result is byte for byte what a full regeneration gives, the user's edits included."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Container, Iterator
from pathlib import Path
from typing import Any

import pytest

from msmvp import _resources, components, grow, provenance, render, targets
from msmvp.api import new_project
from msmvp.manifest import Manifest, Service

from .helpers import tree_digest


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def _edit(path: Path, line: str) -> None:
    path.write_text(path.read_text() + line)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Three services (orders calls users, stock nothing) with committed edits: a shared file, a folder the
    next add-service renders again (users: the new service calls it) and one it leaves (stock);
    and a file of stock the user deleted."""
    root = new_project("shop", output_dir=tmp_path / "base", services="users,orders,stock").target
    manifest = root / "msmvp.yaml"
    text = manifest.read_text()
    assert "- name: stock\n  calls: [orders]\n" in text  # each service calls the one before
    manifest.write_text(text.replace("- name: stock\n  calls: [orders]\n", "- name: stock\n"))
    git(root, "commit", "-qam", "stock calls nobody")
    grow.upgrade(root)
    _edit(root / "deploy/compose/compose.yaml", "# ops note\n")
    _edit(root / "services/users/users_service/routes.py", "\n# reviewed (users)\n")
    _edit(root / "services/stock/stock_service/routes.py", "\n# reviewed (stock)\n")
    (root / "services/stock/tests/test_health.py").unlink()
    git(root, "add", "-A")
    git(root, "commit", "-qm", "edits")
    return root


def _twins(project: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two copies of ``project``: as it is, and with no fingerprints (so every folder renders)."""
    incremental, full = tmp_path / "incremental", tmp_path / "full"
    shutil.copytree(project, incremental, symlinks=True)
    shutil.copytree(project, full, symlinks=True)
    record = full / provenance.PROVENANCE
    data = json.loads(record.read_text())
    assert data.pop("targets")  # msmvp new records them
    record.write_text(json.dumps(data, indent=1) + "\n")
    git(full, "commit", "-qam", "no fingerprints")
    return incremental, full


def _rendered_services(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The service folders the next regenerations render in full for the new manifest (filled
    as they run; not the render of the last inputs a merge may take its base from)."""
    seen: list[str] = []
    real_render, real_project = render._Template.render, render.render_project
    regenerating = [False]

    def counted(
        self: render._Template, context: dict[str, object], prefix: str = "", only: Container[str] | None = None
    ) -> Iterator[render.PlannedFile]:
        if regenerating[0] and prefix and prefix not in seen and only is None:
            seen.append(prefix)
        return real_render(self, context, prefix, only)

    def project(manifest: Manifest, *args: Any) -> render.Rendered:
        regenerating[0] = bool(args)
        try:
            return real_project(manifest, *args)
        finally:
            regenerating[0] = False

    monkeypatch.setattr(render._Template, "render", counted)
    monkeypatch.setattr(render, "render_project", project)
    return seen


def _same_result(incremental: Path, full: Path) -> None:
    assert tree_digest(incremental) == tree_digest(full)
    assert git(incremental, "ls-tree", "-r", "HEAD") == git(full, "ls-tree", "-r", "HEAD")
    assert git(incremental, "status", "--porcelain") == git(full, "status", "--porcelain") == ""


def test_add_service_renders_only_what_changes_and_matches_a_full_regeneration(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    incremental, full = _twins(project, tmp_path)
    rendered = _rendered_services(monkeypatch)
    outcome = grow.add_service(incremental, "shipping", ["users"])
    # users is called by shipping now, and orders reads its entry (it calls users): stock is reused.
    assert sorted(rendered) == ["services/orders/", "services/shipping/", "services/users/"]
    rendered.clear()
    expected = grow.add_service(full, "shipping", ["users"])
    assert sorted(rendered) == ["services/orders/", "services/shipping/", "services/stock/", "services/users/"]
    _same_result(incremental, full)
    assert outcome.newly_done == expected.newly_done
    shown = {"create", "update", "merge", "conflict", "blocked", "delete", "kept", "skip-deleted"}
    assert [(c.path, c.action) for c in outcome.plan.changes if c.action in shown] == [
        (c.path, c.action) for c in expected.plan.changes if c.action in shown
    ]
    actions = {c.path: c.action for c in outcome.plan.changes}
    assert actions["services/stock/stock_service/routes.py"] == "unchanged"  # not read: nothing to write
    assert actions["services/stock/tests/test_health.py"] == "skip-deleted"  # still reported
    assert actions["services/users/users_service/routes.py"] == "keep"
    assert (incremental / "services/stock/stock_service/routes.py").read_text().endswith("# reviewed (stock)\n")
    assert (incremental / "services/users/users_service/routes.py").read_text().endswith("# reviewed (users)\n")
    assert not (incremental / "services/stock/tests/test_health.py").exists()
    # The next run reuses the new folder too, and changes nothing.
    rendered.clear()
    assert grow.upgrade(incremental).plan.noop
    assert rendered == []


def test_remove_service_renders_the_folders_whose_inputs_moved(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    incremental, full = _twins(project, tmp_path)
    rendered = _rendered_services(monkeypatch)
    grow.remove_service(incremental, "stock")
    assert rendered == []  # the last one, calling and called by nobody: nothing else moves
    grow.remove_service(full, "stock")
    _same_result(incremental, full)
    rendered.clear()
    grow.remove_service(incremental, "orders")
    assert rendered == ["services/users/"]  # no longer called by orders
    grow.remove_service(full, "orders")
    _same_result(incremental, full)


def test_upgrade_renders_every_folder_again_when_a_service_template_changes(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    incremental, full = _twins(project, tmp_path)
    templates = tmp_path / "templates"
    shutil.copytree(_resources.templates_dir(), templates)
    errors = templates / "base/service/template/{{ service.package }}/errors.py.jinja"
    _edit(errors, "# a newer template\n")
    monkeypatch.setattr(_resources, "templates_dir", lambda: templates)
    components.load.cache_clear()
    try:
        rendered = _rendered_services(monkeypatch)
        grow.upgrade(incremental)
        assert sorted(rendered) == ["services/orders/", "services/stock/", "services/users/"]
        grow.upgrade(full)
    finally:
        components.load.cache_clear()
    _same_result(incremental, full)
    for name in ("users", "orders", "stock"):
        assert (incremental / f"services/{name}/{name}_service/errors.py").read_text().endswith("# a newer template\n")
    assert (incremental / "services/stock/stock_service/routes.py").read_text().endswith("# reviewed (stock)\n")


def test_a_resolved_file_renders_its_folder_again(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision of `msmvp resolve` is a record that is no longer the folder's render alone."""
    routes = project / "services/stock/stock_service/routes.py"
    routes.write_text("# mine\n")
    git(project, "commit", "-qam", "mine")
    grow.resolve(project, "services/stock/stock_service/routes.py", "mine")
    assert "services/stock/" not in provenance.load_full(project).targets  # type: ignore[union-attr]
    git(project, "commit", "-qam", "resolved")
    rendered = _rendered_services(monkeypatch)
    grow.add_service(project, "shipping")
    assert "services/stock/" in rendered
    assert routes.read_text() == "# mine\n"


def test_a_folder_whose_records_changed_since_is_rendered_again(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records that are not those the fingerprint was kept with (a provenance merged from two
    branches, edited by hand) are not taken for that render."""
    record = project / provenance.PROVENANCE
    data = json.loads(record.read_text())
    del data["files"]["services/stock/Dockerfile"]
    record.write_text(json.dumps(data, indent=1) + "\n")
    git(project, "commit", "-qam", "a record lost")
    rendered = _rendered_services(monkeypatch)
    outcome = grow.add_service(project, "shipping")
    assert "services/stock/" in rendered
    assert {c.path: c.action for c in outcome.plan.changes}["services/stock/Dockerfile"] == "same"
    assert "services/stock/Dockerfile" in provenance.load_full(project).files  # type: ignore[union-attr]


def test_a_reused_requirements_file_a_lock_includes_is_read_as_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The development lock reads every service's requirements file: a reused one comes from the
    disk while it is as rendered, else from git; without either the whole project is rendered."""
    root = new_project("shop", output_dir=tmp_path / "base", services="users,stock", git=False).target
    _edit(root / "services/stock/requirements.txt", "rich\n")  # not in the lock: msmvp's text is locked
    twin = tmp_path / "twin"
    shutil.copytree(root, twin, symlinks=True)
    rendered = _rendered_services(monkeypatch)
    grow.add_service(root, "shipping")
    assert sorted(rendered) == ["services/shipping/", "services/stock/", "services/users/"]
    record = twin / provenance.PROVENANCE
    data = json.loads(record.read_text())
    data.pop("targets")
    record.write_text(json.dumps(data, indent=1) + "\n")
    grow.add_service(twin, "shipping")
    assert tree_digest(root) == tree_digest(twin)
    assert "rich" not in (root / "requirements-dev.lock").read_text()


@pytest.mark.parametrize(
    ("source", "related"),
    [
        ("{%- for c in services if c.name in service.calls %}{{ c.port }}{% endfor %}", True),
        ("{% for c in services if c.name in service.called_by %}x{% endfor %}", True),
        ("{{ parts.services }} services, {{ 'services' }}", True),
        ("{% for c in services %}{{ c.port }}{% endfor %}", False),
        ("{{ services | length }}", False),
        ("{% for c in services if c.name in service.calls or true %}x{% endfor %}", False),
        ("{% for c in services if d.name in service.calls %}x{% endfor %}", False),
    ],
)
def test_a_folder_depends_on_the_related_services_only_through_filtered_loops(source: str, related: bool) -> None:
    import jinja2

    assert targets._uses_related_only(jinja2.Environment().lex(source)) is related  # noqa: S701


def test_only_the_files_that_list_every_service_are_rendered_in_every_folder() -> None:
    """Otherwise each add-service renders more of every folder again (correct, but slower)."""
    from msmvp.options import defaults, resolve

    def wide(options: dict[str, str]) -> list[str]:
        return targets._wide(render._templates(resolve(options), "service"))

    assert wide(defaults()) == []
    # Every service's stream takes every service's subjects.
    assert wide({**defaults(), "messaging": "nats"}) == [
        "components/messaging/nats/service:{{ service.package }}/broker.py.jinja"
    ]


def test_a_wide_file_is_rendered_in_every_folder_and_the_rest_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = new_project("shop", output_dir=tmp_path / "base", services="users,stock", options={"messaging": "nats"})
    project = root.target
    incremental, full = _twins(project, tmp_path)
    rendered = _rendered_services(monkeypatch)
    outcome = grow.add_service(incremental, "shipping")
    assert rendered == ["services/shipping/"]
    actions = {c.path: c.action for c in outcome.plan.changes}
    assert actions["services/users/users_service/broker.py"] == "update"  # lists shipping.> now
    assert actions["services/users/users_service/routes.py"] == "unchanged"
    grow.add_service(full, "shipping")
    _same_result(incremental, full)


def test_a_fingerprint_covers_the_service_its_relations_and_the_project() -> None:
    from msmvp.options import defaults

    def prints(manifest: Manifest) -> dict[str, str]:
        return render.render_project(manifest).targets

    services = [Service("users"), Service("orders", ["users"]), Service("stock")]
    base = prints(Manifest(name="shop", options=defaults(), services=services))
    grown = prints(Manifest(name="shop", options=defaults(), services=[*services, Service("ship", ["orders"])]))
    # orders is called by ship now, and users reads orders' entry (orders calls it)
    assert sorted(p for p in base if base[p] != grown[p]) == ["services/orders/", "services/users/"]
    renamed = prints(Manifest(name="store", options=defaults(), services=services))
    assert all(base[p] != renamed[p] for p in base)
    other = prints(Manifest(name="shop", options={**defaults(), "cache": "none"}, services=services))
    assert all(base[p] != other[p] for p in base)


def test_the_provenance_is_json_with_one_space_indentation() -> None:
    from msmvp.provenance import Provenance, Record

    files = {
        "a": Record("t", "s", ("2.1", "1.10"), "b"),
        'odd "name"\\é\t': Record("t", "s", (), "", "mine"),
    }
    for prov in (Provenance("1", {"services": [{"name": "a"}]}, files, {"services/a/": "f"}), Provenance("1", {}, {})):
        data = {"schema": provenance.SCHEMA, "msmvp_version": "1", "inputs": prov.inputs}
        data["files"] = {path: r.to_data() for path, r in prov.files.items()}
        if prov.targets:
            data["targets"] = prov.targets
        assert provenance.dump(prov) == (json.dumps(data, indent=1) + "\n").encode()


def test_an_added_service_is_written_after_the_others_and_nothing_else_moves() -> None:
    previous = (
        "# my notes\nmsmvp_version: 0.1.0\nname: shop\nchecklist: builtin\n"
        "options: {protocol: rest, messaging: none,\n  cache: none}\n"
        "services:\n  - {name: users}  # the first\n  - name: orders\n    calls: [users]\n"
    )
    options = {"protocol": "rest", "messaging": "none", "cache": "none"}
    manifest = Manifest(msmvp_version="0.1.0", name="shop", options=options)
    manifest.services = [Service("users"), Service("orders", ["users"]), Service("ship", ["orders", "users"])]
    assert manifest.to_yaml_over(previous) == previous + "  - name: ship\n    calls: [orders, users]\n"

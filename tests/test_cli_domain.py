"""The domain commands: add-resource, add-field, remove-field, remove-resource change msmvp.yaml and
re-render; every bad input is one line with a hint, exit 1, and leaves the tree as it was."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from msmvp import api, domain, grow, grow_domain

from .helpers import build_file_tree, msmvp, tree_digest


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def services(project: Path) -> dict[str, dict[str, object]]:
    data = yaml.safe_load((project / "msmvp.yaml").read_text())
    return {s["name"]: s for s in data["services"]}


def resources(project: Path, service: str) -> dict[str, dict[str, object]]:
    return {r["name"]: r for r in services(project)[service].get("resources", [])}  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def domain_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """shop with users.user, orders.order (-> users.user), orders.line (-> order) and payments
    (calls orders, the default item). Read-only: tests that change it take a copy."""
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("home")
    mp.setenv("HOME", str(home))
    for key in ("AUTHOR", "COMMITTER"):
        mp.setenv(f"GIT_{key}_NAME", "msmvp tests")
        mp.setenv(f"GIT_{key}_EMAIL", "tests@msmvp.invalid")
    root = tmp_path_factory.mktemp("domain")
    api.new_project("shop", output_dir=root)
    repo = root / "shop"
    grow.add_service(repo, "payments", ["orders"])
    grow_domain.add_resource(repo, "users", "user", ["email:email:required:unique", "name:string(80)"])
    grow_domain.add_resource(
        repo, "orders", "order", ["total:decimal(12,2):required", "status:enum(new,paid,shipped)"], ["users.user"]
    )
    grow_domain.add_resource(repo, "orders", "line", ["qty:integer:required"], ["order"])
    mp.undo()
    return repo


@pytest.fixture()
def project(domain_project: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(domain_project, tmp_path / "shop", symlinks=True))


@pytest.fixture()
def fresh(tmp_path: Path) -> Path:
    api.new_project("shop", output_dir=tmp_path)
    return tmp_path / "shop"


def test_add_resource_replaces_the_placeholder_and_ref_adds_the_call(fresh: Path) -> None:
    assert "resources" not in services(fresh)["users"]
    code, _, err = msmvp(fresh, "add-resource", "users", "user", "--field", "email:email:required")
    assert code == 0, err
    assert list(resources(fresh, "users")) == ["user"]
    # billing calls nobody yet: --ref adds the call along with the required user_id.
    assert msmvp(fresh, "add-service", "billing")[0] == 0
    code, _, err = msmvp(
        fresh,
        "add-resource",
        "billing",
        "invoice",
        "--field",
        "amount:decimal(10,2):required",
        "--field",
        "state:enum(open,paid)",
        "--ref",
        "users.user",
        "--plural",
        "invoices",
    )
    assert code == 0, err
    assert "billing now calls users" in err
    billing = services(fresh)["billing"]
    assert billing["calls"] == ["users"]
    invoice = resources(fresh, "billing")["invoice"]
    assert invoice["plural"] == "invoices"
    assert invoice["fields"] == {  # type: ignore[comparison-overlap]
        "amount": {"type": "decimal", "required": True, "precision": 10, "scale": 2},
        "state": {"type": "enum", "values": ["open", "paid"]},
        "user_id": {"ref": "users.user", "required": True},
    }
    assert git(fresh, "log", "-1", "--format=%s").strip() == "Add resource billing.invoice (msmvp add-resource)"
    assert git(fresh, "status", "--porcelain") == ""
    # The architecture document follows the domain: the service's diagram and the references across.
    doc = (fresh / "docs/architecture.md").read_text()
    assert '    users_user ||--o{ billing_invoice : "user_id (via API)"\n' in doc
    assert '    users_user ||--o{ billing_invoice : "user_id"\n' in doc
    assert '        enum state "optional"\n' in doc


def test_add_field_adds_several_and_keeps_the_order(project: Path) -> None:
    code, _, err = msmvp(project, "add-field", "orders.order", "note:text", "placed_at:datetime:indexed")
    assert code == 0, err
    fields = resources(project, "orders")["order"]["fields"]
    assert list(fields) == ["total", "status", "user_id", "note", "placed_at"]  # type: ignore[call-overload]
    assert fields["placed_at"] == {"type": "datetime", "indexed": True}  # type: ignore[index]
    assert "Add note, placed_at to orders.order" in git(project, "log", "-1", "--format=%s")


def test_removals_need_allow_drop(project: Path) -> None:
    before = tree_digest(project)
    code, _, err = msmvp(project, "remove-field", "orders.order", "status")
    assert code == 1
    assert "drops its column" in err and "--allow-drop" in err
    code, _, err = msmvp(project, "remove-resource", "orders", "line")
    assert code == 1
    assert "drops its table" in err and "--allow-drop" in err
    assert tree_digest(project) == before
    code, _, err = msmvp(project, "remove-field", "orders.order", "status", "--allow-drop")
    assert code == 0, err
    assert "status" not in resources(project, "orders")["order"]["fields"]  # type: ignore[operator]
    code, _, err = msmvp(project, "remove-resource", "orders", "line", "--allow-drop")
    assert code == 0, err
    assert list(resources(project, "orders")) == ["order"]
    assert "refers to" not in err
    assert git(project, "log", "-1", "--format=%s").strip() == "Remove resource orders.line (msmvp remove-resource)"
    # payments' placeholder item refers to the first resource of orders, which it calls.
    assert msmvp(project, "add-resource", "orders", "cart", "--field", "note:text")[0] == 0
    code, _, err = msmvp(project, "remove-resource", "orders", "order", "--allow-drop")
    assert code == 0, err
    assert "payments.item now refers to orders.cart" in " ".join(err.split())


def test_allow_drop_reaches_regenerate(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    real = grow_domain.regenerate

    def spy(*args: object, **kw: bool) -> object:
        seen.append(kw.get("allow_drop", False))
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(grow_domain, "regenerate", spy)
    assert msmvp(project, "add-field", "orders.order", "note:text")[0] == 0
    assert msmvp(project, "remove-field", "orders.order", "note", "--allow-drop")[0] == 0
    assert seen == [False, True]


def test_dry_run_shows_the_change_and_writes_nothing(project: Path) -> None:
    before = tree_digest(project)
    code, out, err = msmvp(project, "add-field", "orders.order", "note:text", "--dry-run")
    assert "+++ b/docs/architecture.md" in out and '+        text note "optional"' in out
    assert code == 0, err
    assert "(dry run: nothing written)" in err
    assert tree_digest(project) == before
    # The change asked for comes first: msmvp.yaml, then the domain history's new revision.
    assert out.index("+++ b/msmvp.yaml") < out.index("+++ b/.msmvp/domain.json") < out.index("+++ b/docs/")
    assert "+        note: text\n" in out or "+      note: text\n" in out


def test_a_change_of_the_domain_rewrites_only_its_part_of_msmvp_yaml(fresh: Path) -> None:
    before = (fresh / "msmvp.yaml").read_text().splitlines(keepends=True)
    assert msmvp(fresh, "add-resource", "users", "user", "--field", "email:email:required")[0] == 0
    after = (fresh / "msmvp.yaml").read_text().splitlines(keepends=True)
    removed = [line for line in before if line not in after]
    assert removed == ["- {name: users}\n"]  # the options, one a line, are not re-wrapped
    assert after[: after.index("- name: users\n")] == before[: before.index("- {name: users}\n")]


def test_no_commit_and_allow_dirty(project: Path) -> None:
    build_file_tree(project, {"notes.txt": "wip\n"})
    code, _, err = msmvp(project, "add-field", "orders.order", "note:text")
    assert code == 1
    assert "uncommitted changes in notes.txt" in err
    code, _, err = msmvp(project, "add-field", "orders.order", "note:text", "--allow-dirty", "--no-commit")
    assert code == 0, err
    changed = git(project, "status", "--porcelain")
    assert " M msmvp.yaml" in changed and "?? notes.txt" in changed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add-resource", "nope", "thing", "--field", "a:text"], "there is no service 'nope'"),
        (["add-field", "nope.thing", "a:text"], "there is no service 'nope'"),
        (["add-field", "orders.ghost", "a:text"], "orders has no resource 'ghost'"),
        (["remove-field", "orders.order", "ghost", "--allow-drop"], "orders.order has no field 'ghost'"),
        (["remove-resource", "orders", "ghost", "--allow-drop"], "orders has no resource 'ghost'"),
        (["add-field", "payments.item", "note:text"], "payments declares no resources yet"),
        (["add-field", "orders", "note:text"], "'orders' is not SERVICE.RESOURCE"),
        (["add-field", "orders.order", "x:money"], "unknown type 'money'"),
        (["add-field", "orders.order", "total:integer"], "already has a field 'total'"),
        (["add-field", "orders.order", "a:text", "a:integer"], "field 'a' of orders.order is given twice"),
        (["add-field", "orders.order", "id:integer"], "field name 'id' is reserved"),
        (["add-field", "orders.order", "class:integer"], "is a Python keyword"),
        (["add-field", "orders.order", "kind:enum"], "an enum needs values"),
        (["add-field", "orders.order", "kind:enum()"], "an enum needs values"),
        (["add-field", "orders.order", "price:decimal(2,5)"], "needs 0 <= scale < precision"),
        (["add-field", "orders.order", "flag:boolean:default=maybe"], "is not a valid boolean"),
        (["add-field", "orders.order", "note:text:unique"], "cannot be unique or indexed"),
        (["add-field", "orders.order", "note:text:primary"], "unknown modifier 'primary'"),
        (["add-resource", "orders", "thing", "--field", "total"], "'total' is not NAME:TYPE"),
        (["add-resource", "orders", "thing", "--field", ":text"], "is not NAME:TYPE"),
        (["add-resource", "orders", "thing"], "needs at least one field"),
        (["add-resource", "orders", "order", "--field", "a:text"], "already has a resource 'order'"),
        (["add-resource", "orders", "event_outbox", "--field", "a:text"], "resource name 'event_outbox' is reserved"),
        (["add-resource", "orders", "etag", "--field", "a:text"], "resource name 'etag' is reserved"),
        (
            ["add-resource", "orders", "sum", "--field", "a:text", "--plural", "total"],
            "plural name 'total' is reserved",
        ),
        (["add-resource", "orders", "order_input", "--field", "a:text"], "a second OrderInput in the gRPC contract"),
        (["add-resource", "orders", "Thing", "--field", "a:text"], "not a snake_case identifier"),
        (["add-resource", "orders", "thing", "--field", "a:text", "--plural", "Things"], "plural name 'Things'"),
        (["add-resource", "orders", "thing", "--ref", "nope.thing"], "there is no service 'nope'"),
        (["add-resource", "orders", "thing", "--ref", "users.ghost"], "references users.ghost, which does not exist"),
        (["add-resource", "orders", "thing", "--ref", "ghost"], "references orders.ghost, which does not exist"),
        (["add-resource", "orders", "thing", "--ref", "users."], "is not SERVICE.RESOURCE or RESOURCE"),
        (
            ["add-resource", "orders", "thing", "--ref", "users.user", "--field", "user_id:integer"],
            "field 'user_id' of orders.thing is given twice",
        ),
        (["add-resource", "users", "profile", "--ref", "orders.order"], "references go round in a cycle"),
        (["add-field", "users.user", "pay_id:ref(payments.item)"], "references go round in a cycle"),
        (["remove-resource", "users", "user", "--allow-drop"], "'user' is the only resource of users"),
        (["remove-resource", "orders", "order", "--allow-drop"], "orders.line.order_id references orders.order"),
        (["remove-field", "orders.line", "ghost"], "orders.line has no field 'ghost'"),
        (["remove-field", "orders.order", "status"], "drops its column and the data in it; refused"),
    ],
)
def test_bad_input_is_one_line_with_a_hint_and_writes_nothing(
    domain_project: Path, args: list[str], message: str
) -> None:
    before = tree_digest(domain_project)
    head = git(domain_project, "rev-parse", "HEAD")
    code, out, err = msmvp(domain_project, *args)
    assert code == 1, (out, err)
    text = " ".join(err.split())  # the console wraps at the terminal's width
    assert message in text
    assert text.startswith("error: ") and text.count("error: ") == 1 and "(hint: " in text, err
    assert tree_digest(domain_project) == before
    assert git(domain_project, "rev-parse", "HEAD") == head


# -- msmvp status shows the domain ---------------------------------------------------------------

SUMMARY = {
    "users": "user (2 fields)",
    "orders": "order (3 fields; refs users.user), line (2 fields; refs orders.order)",
    "payments": "item (placeholder, 3 fields; refs orders.order)",
}


def test_status_has_a_line_per_service(domain_project: Path, tmp_path: Path) -> None:
    code, out, err = msmvp(domain_project, "status")
    assert code == 0, err
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "Domain (the diagrams: msmvp status --domain)" in lines
    for name, summary in SUMMARY.items():
        assert f"{name} {summary}" in lines
    # The same as plain text in a file.
    assert msmvp(domain_project, "status", "--output", str(tmp_path / "status.txt"))[0] == 0
    assert "  orders    order (3 fields; refs users.user)" in (tmp_path / "status.txt").read_text()


def test_status_json_carries_the_domain_and_its_diagrams(domain_project: Path) -> None:
    import json

    jsonschema = pytest.importorskip("jsonschema")
    from msmvp import report as report_mod

    code, out, err = msmvp(domain_project, "status", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    jsonschema.validate(data, json.loads(report_mod.schema_text()))
    domain = data["project"]["domain"]
    orders = domain["services"][1]
    assert orders["resources"] == [
        {"name": "order", "path": "/api/v1/orders", "fields": 3, "refs": ["users.user"], "placeholder": False},
        {"name": "line", "path": "/api/v1/orders/lines", "fields": 2, "refs": ["orders.order"], "placeholder": False},
    ]
    assert orders["diagram"].startswith("erDiagram\n    orders_order {\n")
    assert '    users_user ||--o{ orders_order : "user_id"\n' in domain["diagram"]


def test_status_domain_prints_the_diagrams_and_they_parse(domain_project: Path, tmp_path: Path) -> None:
    from .conftest import require_tool, run

    code, out, err = msmvp(domain_project, "status", "--domain")
    assert code == 0, err
    assert out.startswith("# shop: domain\n\n| service | resources |\n")
    assert "| `payments` | item (placeholder, 3 fields; refs orders.order) |" in out
    assert out.count("```mermaid\nerDiagram\n") == 4  # across services, then one per service
    code, _, err = msmvp(domain_project, "status", "--domain", "--output", str(tmp_path / "domain.md"))
    assert code == 0, err
    assert (tmp_path / "domain.md").read_text() == out
    code, markdown, _ = msmvp(domain_project, "status", "--format", "markdown")
    assert "## Domain\n" in markdown and markdown.count("```mermaid\n") == 4
    tool = require_tool("mermaid-parse", "npm i mermaid jsdom (see .ci/install-tools.sh)")
    (tmp_path / "report.md").write_text(markdown)
    result = run([tool, str(tmp_path / "domain.md"), str(tmp_path / "report.md")])
    assert result.returncode == 0, result.stdout
    assert result.stdout.count(" er\n") == 8


def test_status_without_a_manifest_has_no_domain(tmp_path: Path) -> None:
    import json

    build_file_tree(tmp_path, {"services/users/users_service/__init__.py": ""})
    code, out, _ = msmvp(tmp_path, "status", "--format", "json")
    assert code == 0
    assert "domain" not in json.loads(out)["project"]
    code, _, err = msmvp(tmp_path, "status", "--domain")
    assert code == 1 and "no msmvp.yaml" in err


def test_the_documented_commands_work_in_order(fresh: Path) -> None:
    """The console block of docs/domain.md, run as a shell would split it."""
    import re
    import shlex

    from .conftest import REPO_ROOT

    text = (REPO_ROOT / "docs" / "domain.md").read_text()
    block = re.search(r"```console\n(.*?)```", text, flags=re.S).group(1)  # type: ignore[union-attr]
    commands = [shlex.split(line.removeprefix("$ "), comments=True) for line in block.replace("\\\n", "").splitlines()]
    assert len(commands) == 7
    for words in commands:
        assert words[0] == "msmvp"
        code, _, err = msmvp(fresh, *words[1:])
        assert code == 0, (words, err)
    assert list(resources(fresh, "orders")) == ["order"]
    assert list(resources(fresh, "orders")["order"]["fields"]) == ["total", "status", "user_id", "placed_at"]  # type: ignore[call-overload]


def test_a_resource_of_one_service_renders_only_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The diagram across services changes with any resource, yet no other folder renders again
    (it is no input of theirs: msmvp.targets.PROJECT_ONLY)."""
    from .test_incremental import _rendered_services

    root = api.new_project("shop", output_dir=tmp_path, services="users,orders:users,stock").target
    rendered = _rendered_services(monkeypatch)
    grow_domain.add_resource(root, "stock", "sku", ["code:string(20):unique"])
    assert rendered == ["services/stock/"]
    assert "    stock_sku\n" in (root / "docs/architecture.md").read_text()


def test_an_option_value_declared_resources_are_not_built_with_is_refused_before_any_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Which values are built changes as they are; the refusal is what this test proves.
    monkeypatch.setitem(domain.BUILT_WITH, "data", ("db-per-service", "shared-db"))
    options = {"messaging": "nats", "data": "eventual"}
    root = api.new_project("shop", output_dir=tmp_path, services="users,orders", options=options).target
    before = tree_digest(root)
    code, _, err = msmvp(root, "add-resource", "users", "user", "--field", "email:email")
    text = " ".join(err.split())
    assert code == 1
    assert "declared resources are not built yet with data=eventual" in text
    assert "data=db-per-service|shared-db" in text
    assert tree_digest(root) == before

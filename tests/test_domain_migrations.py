"""Schema evolution without losing data: each change of a service's resources becomes a new Alembic
revision (an earlier one never changes), the generated tests apply every revision to databases
holding rows (SQLite and a real PostgreSQL), and a change that would lose rows is refused before
anything is written unless the user allows the drop."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from msmvp import api, grow, migrations
from msmvp.errors import DomainError
from msmvp.manifest import Manifest

from .conftest import require_tool, run

DOMAIN: dict[str, Any] = {
    "services": [
        {
            "name": "users",
            "resources": [{"name": "user", "fields": {"email": "email:required:unique", "nick": "string(40)"}}],
        },
        {
            "name": "orders",
            "calls": ["users"],
            "resources": [
                {
                    "name": "order",
                    "fields": {
                        "total": {"type": "decimal", "precision": 12, "scale": 2, "required": True},
                        "status": "enum(new,paid)",
                        "user_id": {"ref": "users.user", "required": True},
                    },
                }
            ],
        },
    ]
}


def _edit(project: Path, service: str, change: Any) -> None:
    """Edit msmvp.yaml by hand (as a user would) and commit it."""
    data = yaml.safe_load((project / "msmvp.yaml").read_text())
    entry = next(s for s in data["services"] if s["name"] == service)
    change(entry)
    (project / "msmvp.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    subprocess.run(["git", "commit", "-qam", f"edit {service}"], cwd=project, check=True)


def _versions(project: Path, service: str) -> dict[str, str]:
    folder = project / "services" / service / "migrations" / "versions"
    return {p.name: p.read_text() for p in sorted(folder.glob("*.py"))}


def _rows_tests(project: Path, service: str, where: str = "rows", file: str = "tests/test_migrations.py") -> str:
    """Run the generated service's own test: every revision applied to a database holding rows."""
    args = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *file.split(), "-k", where]
    done = run(args, cwd=project / "services" / service, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    return out


def _columns(project: Path, service: str, table: str) -> list[str]:
    """The columns of ``table`` after `alembic upgrade head` on a new SQLite file."""
    code = (
        "import sys; from alembic import command; from alembic.config import Config; import sqlalchemy as sa\n"
        "c = Config('alembic.ini'); c.attributes['database_url'] = sys.argv[1]; c.attributes['configure_logger'] = False\n"
        "command.upgrade(c, 'head')\n"
        f"print([x['name'] for x in sa.inspect(sa.create_engine(sys.argv[1])).get_columns({table!r})])\n"
    )
    db = project / f"{service}-columns.db"
    done = run([sys.executable, "-c", code, f"sqlite:///{db}"], cwd=project / "services" / service)
    db.unlink(missing_ok=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return list(eval(done.stdout.strip().splitlines()[-1]))  # noqa: S307 - a list of names we printed


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    pytest.importorskip("fastapi", reason="the generated project's dependencies are not installed")
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(DOMAIN))
    api.new_project("shop", output_dir=tmp_path, answers=answers)
    return tmp_path / "shop"


@pytest.mark.slow
def test_a_sequence_of_domain_changes_keeps_every_row(shop: Path) -> None:
    require_tool("initdb", "apt-get install postgresql")
    history = json.loads((shop / migrations.HISTORY).read_text())
    assert [e["revision"] for e in history["services"]["orders"]] == ["0001"]
    assert 'op.create_table(\n        "orders"' in _versions(shop, "orders")["0001_initial.py"]
    written: dict[str, str] = {}

    def step(change: Any, service: str = "orders", **kw: bool) -> str:
        _edit(shop, service, change)
        before = _versions(shop, service)
        grow.upgrade(shop, **kw)
        after = _versions(shop, service)
        for name, text in before.items():  # a revision once written never changes
            assert after[name] == text, name
        (new,) = set(after) - set(before)
        written[new] = after[new]
        return after[new]

    # Add a resource, with a reference to one of the same service (a foreign key).
    text = step(
        lambda s: s["resources"].append(
            {"name": "line", "fields": {"order_id": "ref(order):required", "qty": "integer:required:default=1"}}
        )
    )
    assert 'sa.ForeignKeyConstraint(["order_id"], ["orders.id"]' in text
    # Add fields to a table holding rows: one optional, one required with a default the rows get.
    text = step(lambda s: s["resources"][0]["fields"].update({"note": "text", "rank": "integer:required:default=5"}))
    assert "Rows without a value of orders.rank get its default, 5." in text
    assert "batch.add_column" in text and ".values({" in text
    # Add a reference to a table holding rows.
    text = step(lambda s: s["resources"][0]["fields"].update({"parent_id": "ref(order)"}))
    assert 'batch.create_foreign_key(op.f("fk_orders_parent_id_orders"), "orders", ["parent_id"], ["id"])' in text
    _rows_tests(shop, "orders", "rows and not postgresql")

    # Remove a field: refused, nothing written; then allowed, and the migration says the data goes.
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=shop, capture_output=True, text=True).stdout
    _edit(shop, "orders", lambda s: s["resources"][0]["fields"].pop("note"))
    kept = {p: (shop / p).read_bytes() for p in (migrations.HISTORY, ".msmvp/provenance.json")}
    versions = _versions(shop, "orders")
    with pytest.raises(DomainError, match=r"removing orders\.order\.note drops its column") as refused:
        grow.upgrade(shop)
    assert "--allow-drop" in refused.value.hint
    assert _versions(shop, "orders") == versions
    assert all((shop / p).read_bytes() == data for p, data in kept.items())
    assert "note" in _columns(shop, "orders", "orders")
    grow.upgrade(shop, allow_drop=True)
    (dropped,) = set(_versions(shop, "orders")) - set(versions)
    assert "Drops data (--allow-drop): the column orders.note and its values." in _versions(shop, "orders")[dropped]
    assert "note" not in _columns(shop, "orders", "orders")
    assert head != subprocess.run(["git", "rev-parse", "HEAD"], cwd=shop, capture_output=True, text=True).stdout
    # Every revision, on SQLite and on PostgreSQL, each applied to a database holding rows; the
    # schema they build is the models'.
    _migration_tests(shop, "orders")
    history = json.loads((shop / migrations.HISTORY).read_text())["services"]["orders"]
    assert [e["revision"] for e in history] == ["0001", "0005", "0006", "0007", "0008"]
    assert [e["allow_drop"] for e in history[1:]] == [False, False, False, True]


@pytest.mark.slow
def test_the_placeholder_is_replaced_only_when_its_table_is_empty(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the generated project's dependencies are not installed")
    api.new_project("shop", output_dir=tmp_path, services="users")
    shop = tmp_path / "shop"
    _edit(shop, "users", lambda s: s.update(resources=[{"name": "user", "fields": {"email": "email:required"}}]))
    grow.upgrade(shop)
    (text,) = [t for name, t in _versions(shop, "users").items() if name.startswith("0005_")]
    assert "The table users is dropped only if it is empty" in text
    assert "raise RuntimeError" in text
    # The generated test inserts a row in the placeholder, sees the upgrade stop, empties it, goes
    # on; downgrading to base brings the placeholder's table back before dropping it.
    _migration_tests(shop, "users")


BASE = [{"name": "order", "fields": {"total": "decimal(10,2):required", "code": "string(20)", "state": "enum(a,b)"}}]


def _with(**fields: Any) -> list[dict[str, Any]]:
    return [{"name": "order", "fields": {**BASE[0]["fields"], **fields}}]


@pytest.mark.parametrize(
    ("after", "message"),
    [
        (_with(qty="integer:required"), r"orders\.order\.qty is required and has no default"),
        ([{"name": "order", "fields": {"total": "decimal(10,2):required"}}], r"removing orders\.order\.code"),
        (_with(code="string(10)"), r"orders\.order\.code: sa\.String\(length=20\) -> sa\.String\(length=10\)"),
        (_with(total="decimal(10,3):required"), r"orders\.order\.total: .* could not hold every value"),
        (_with(state="enum(a,c)"), r"an enum value it may hold would be removed"),
        (_with(code="string(20):required"), r"orders\.order\.code becomes required"),
        (_with(qty="integer:required:unique:default=1"), r"qty is required and unique: the rows .* its one default"),
        (_with(code="string(20):required:unique:default=x"), r"code becomes required and is unique"),
        ([], r"removing orders\.order drops its table orders"),
    ],
)
def test_changes_that_would_lose_rows_are_refused(after: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(DomainError, match=message) as refused:
        migrations.diff("orders", BASE, after, allow_drop=False)
    assert refused.value.hint


@pytest.mark.parametrize(
    ("after", "code"),
    [
        (_with(code="string(80)"), "type_=sa.String(length=80)"),
        (_with(code="text"), "type_=sa.Text()"),
        (_with(total="decimal(14,2):required"), "type_=sa.Numeric(precision=14, scale=2)"),
        (_with(state="enum(a,b,longer)"), "\"state IN ('a', 'b', 'longer')\""),
        (_with(code="string(20):required:default=x"), "nullable=False"),
        (_with(code="string(20):indexed"), 'batch.create_index(op.f("ix_orders_code"), ["code"], unique=False)'),
    ],
)
def test_widening_changes_are_migrated_both_ways(after: list[dict[str, Any]], code: str) -> None:
    entry = {"revision": "0005", "down": "0002", "slug": "change", "resources": after}
    revision = migrations.revision_context("orders", BASE, entry)
    assert code in revision["upgrade"]
    assert "batch.alter_column" in revision["downgrade"] or "batch.drop_index" in revision["downgrade"]


def test_a_rename_is_a_remove_and_an_add_that_says_the_data_goes() -> None:
    after = [{"name": "order", "fields": {**BASE[0]["fields"], "label": "string(20)"}}]
    del after[0]["fields"]["code"]
    with pytest.raises(DomainError, match=r"removing orders\.order\.code"):
        migrations.diff("orders", BASE, after, allow_drop=False)
    entry = {"revision": "0005", "down": "0002", "slug": "rename", "resources": after, "allow_drop": True}
    revision = migrations.revision_context("orders", BASE, entry)
    assert 'batch.add_column(sa.Column("label", sa.String(length=20), nullable=True))' in revision["upgrade"]
    assert 'batch.drop_column("code")' in revision["upgrade"]
    assert "Drops data (--allow-drop): the column orders.code and its values." in revision["doc"]
    assert 'batch.add_column(sa.Column("code", sa.String(length=20), nullable=True))' in revision["downgrade"]


def test_a_project_without_a_history_file_takes_its_rendered_domain_as_base(tmp_path: Path) -> None:
    api.new_project("shop", output_dir=tmp_path, git=False)
    shop = tmp_path / "shop"
    (shop / migrations.HISTORY).unlink()
    history, stored = grow.load_history(
        shop, None, Manifest.model_validate(yaml.safe_load((shop / "msmvp.yaml").read_text()))
    )
    assert not stored
    assert history.services["orders"][0]["resources"][0]["default"] is True
    outcome = grow.upgrade(shop)
    assert outcome.plan.noop
    assert not (shop / migrations.HISTORY).exists()


@pytest.mark.slow
def test_a_component_revision_chosen_later_is_merged_after_the_services_own(shop: Path) -> None:
    # The merge of a component's revision into a service's own chain is what this test proves.
    _edit(shop, "orders", lambda s: s["resources"][0]["fields"].update({"note": "text"}))
    grow.upgrade(shop)
    grow.upgrade(shop, {"messaging": "rabbitmq"})
    versions = _versions(shop, "orders")
    assert "0003_events.py" in versions  # the messaging component's own revision, after 0002
    merge = versions["0006_follow_0003.py"]
    assert 'down_revision: str | Sequence[str] | None = ("0005", "0003")' in merge
    assert "import sqlalchemy" not in merge  # nothing to do but join the two lines: ruff-clean
    # One head again: `alembic upgrade head` runs every revision, the component's and the service's.
    assert "note" in _columns(shop, "orders", "orders")


EVERY_TYPE = {
    "s": "string(30):indexed",
    "t": "text",
    "i": "integer:unique",
    "d": "decimal(8,3)",
    "b": "boolean",
    "day": "date",
    "at": "datetime",
    "u": "uuid:unique:indexed",
    "e": "email",
    "w": "url",
    "k": "enum(x,y)",
    "j": "json",
}


def _migration_tests(project: Path, service: str) -> str:
    """The generated service's migration tests: the schema its migrations build is its models'
    (then every revision is undone), on SQLite and PostgreSQL, and no row is lost on either."""
    out = _rows_tests(project, service, "migrations or rows", "tests/test_migrations.py tests/test_postgresql.py")
    assert "skipped" not in out and re.search(r"\b4 passed", out), out[-2000:]
    return out


@pytest.mark.slow
def test_every_field_type_is_created_and_added_as_the_models_declare_it(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the generated project's dependencies are not installed")
    require_tool("initdb", "apt-get install postgresql")
    answers = tmp_path / "answers.yaml"
    domain = {
        "services": [
            {
                "name": "things",
                "resources": [
                    {"name": "thing", "fields": dict(EVERY_TYPE)},
                    {"name": "part", "fields": {"thing_id": "ref(thing):required", "n": "integer"}},
                ],
            }
        ]
    }
    answers.write_text(yaml.safe_dump(domain))
    api.new_project("shop", output_dir=tmp_path, answers=answers)
    shop = tmp_path / "shop"
    _migration_tests(shop, "things")  # 0001 and 0002
    required = {
        "rs": "string(10):required:default=a",
        "ri": "integer:required:default=3",
        "rd": "decimal(8,3):required:default=1.5",
        "rb": "boolean:required:default=true",
        "rday": "date:required:default=2026-02-01",
        "ru": "uuid:required:default=00000000-0000-0000-0000-000000000007",
        "rk": "enum(x,y):required:default=y",
    }

    def grow_all(s: dict[str, Any]) -> None:
        s["resources"][1]["fields"].update({f"p_{k}": v for k, v in EVERY_TYPE.items()} | required)
        s["resources"][1]["fields"]["n"] = "integer:required:default=0"  # made required, rows get 0
        s["resources"][0]["fields"]["s"] = "string(60):indexed"  # widened
        s["resources"].append({"name": "note", "fields": {**EVERY_TYPE, "part_id": "ref(part)"}})

    _edit(shop, "things", grow_all)
    grow.upgrade(shop)
    assert "0005_" in " ".join(_versions(shop, "things"))
    # The revision: a new table, added columns, a widened and a required one; and no row lost.
    _migration_tests(shop, "things")

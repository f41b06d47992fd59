"""The domain model (msmvp.domain): the short and long forms of a field, every check, plurals, the
Mermaid diagrams (held to Mermaid's own parser when it is installed), and answers files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from msmvp import api, domain
from msmvp.domain import Field, Resource, field_from_data, parse_field, resource_from_data
from msmvp.errors import AnswersFileError, DomainError

from .conftest import REPO_ROOT, require_tool, run

Services = list[tuple[str, list[str], list[Resource] | None]]


# -- reading a field -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("note:text", Field("note", "text")),
        ("name:string(80):required:indexed", Field("name", "string", required=True, indexed=True, max_length=80)),
        ("total:decimal(10,2):required", Field("total", "decimal", required=True, precision=10, scale=2)),
        ("total:decimal", Field("total", "decimal")),
        ("status:enum(new,paid):default=new", Field("status", "enum", values=("new", "paid"), default="new")),
        ("status: enum(new, paid)", Field("status", "enum", values=("new", "paid"))),
        ("user_id:ref(users.user):required", Field("user_id", "ref", required=True, ref="users.user")),
        ("parent_id:ref(line)", Field("parent_id", "ref", ref="line")),
        ("email:email:unique", Field("email", "email", unique=True)),
        ("count:integer:default=3", Field("count", "integer", default=3)),
        ("flag:boolean:default=true", Field("flag", "boolean", default=True)),
        ("on:date:default=2026-01-02", Field("on", "date", default="2026-01-02")),
        ("at:datetime:default=2026-01-02T10:00:00Z", Field("at", "datetime", default="2026-01-02T10:00:00+00:00")),
        ("s:string:unique:default=a:b", Field("s", "string", unique=True, default="a:b")),
        ("data:json:default={}", Field("data", "json", default={})),
        ("token:uuid:optional", Field("token", "uuid")),
    ],
)
def test_the_short_form(text: str, expected: Field) -> None:
    assert parse_field(text) == expected


def test_the_long_form_and_the_short_one_say_the_same() -> None:
    long = field_from_data("total", {"type": "decimal", "precision": 10, "scale": 2, "required": True})
    assert long == parse_field("total:decimal(10,2):required")
    assert field_from_data("user_id", {"ref": "users.user", "required": True}) == parse_field(
        "user_id:ref(users.user):required"
    )
    assert field_from_data("note", "text") == Field("note", "text")


@pytest.mark.parametrize(
    "field",
    [
        Field("note", "text"),
        Field("total", "decimal", required=True, precision=10, scale=0),
        Field("status", "enum", values=("a", "b"), default="b"),
        Field("user_id", "ref", required=True, ref="users.user"),
        Field("name", "string", unique=True, indexed=True, max_length=80),
    ],
)
def test_a_field_round_trips_through_msmvp_yaml(field: Field) -> None:
    assert field_from_data(field.name, domain.field_to_data(field)) == field


def test_a_resource_round_trips_and_reads_a_list_of_fields_too() -> None:
    data = {"name": "person", "plural": "people", "fields": {"name": "string(80):required", "age": "integer"}}
    res = resource_from_data(data)
    assert res.plural_name == "people"
    assert domain.resource_to_data(res) == {
        "name": "person",
        "plural": "people",
        "fields": {"name": {"type": "string", "required": True, "max_length": 80}, "age": "integer"},
    }
    listed = resource_from_data(
        {"name": "person", "plural": "people", "fields": [{"name": "string(80):required"}, {"age": "integer"}]}
    )
    assert listed == res


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("total", "is not NAME:TYPE"),
        (":text", "is not NAME:TYPE"),
        ("total:", "is not NAME:TYPE"),
        ("x:money", "unknown type 'money'"),
        ("x:string((80)", "cannot read"),
        ("x:integer(3)", "type integer takes no arguments"),
        ("x:text:primary", "unknown modifier 'primary'"),
        ("x:text:default", "unknown modifier 'default'"),
        ("id:integer", "field name 'id' is reserved"),
        ("created_at:datetime", "field name 'created_at' is reserved"),
        ("Name:text", "not a snake_case identifier"),
        ("class:text", "is a Python keyword"),
        ("s:enum", "an enum needs values"),
        ("s:enum()", "an enum needs values"),
        ("s:enum(a,a)", "listed twice"),
        ("s:enum(a;b)", "is not a plain word"),
        ("s:enum(a,b):default=c", "is not one of its values"),
        ("x:decimal(2,5)", "needs 0 <= scale < precision <= 38"),
        ("x:decimal(40,2)", "needs 0 <= scale < precision <= 38"),
        ("x:string(0)", "max_length must be at least 1"),
        ("x:string(20000)", "is over 10000"),
        ("x:string(ten)", "max_length must be a whole number"),
        ("x:json:indexed", "cannot be unique or indexed"),
        ("x:text:unique", "cannot be unique or indexed"),
        ("x:integer:default=many", "is not a valid integer"),
        ("x:boolean:default=maybe", "is not a valid boolean"),
        ("x:datetime:default=2026-01-01T10:00", "is not a valid datetime"),  # no time zone
        ("x:uuid:default=nope", "is not a valid uuid"),
        ("x:ref(Users.User)", "ref must name SERVICE.RESOURCE or RESOURCE"),
    ],
)
def test_each_bad_field_is_refused_with_its_reason(text: str, message: str) -> None:
    with pytest.raises(DomainError, match=re.escape(message)):
        parse_field(text)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "text", "colour": "red"}, "unknown key 'colour'"),
        ({"type": "text", "required": "yes"}, "required must be true or false"),
        ({"type": "integer", "values": ["a"]}, "only an enum has values"),
        ({"type": "integer", "ref": "users.user"}, "only a ref field has ref"),
        ({"type": "integer", "max_length": 3}, "max_length applies to strings"),
        ({"type": "string", "precision": 3}, "precision and scale apply to decimals"),
        ({"type": "datetime", "default": "2026-01-01T10:00:00"}, "is not a valid datetime"),
        (["text"], "expected a type or a mapping"),
    ],
)
def test_each_bad_mapping_is_refused(data: object, message: str) -> None:
    with pytest.raises(DomainError, match=re.escape(message)):
        field_from_data("x", data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("order", "a resource is a mapping with a name and fields"),
        ({"name": "order", "fields": {"a": "text"}, "table": "x"}, "unknown key 'table'"),
        ({"name": "order"}, "has no fields"),
        ({"name": "order", "fields": "a:text"}, "fields must map names to types"),
        ({"name": "event_outbox", "fields": {"a": "text"}}, "resource name 'event_outbox' is reserved"),
        ({"name": "thing", "plural": "event_outbox", "fields": {"a": "text"}}, "table 'event_outbox' is reserved"),
        ({"name": "idempotency_key", "fields": {"a": "text"}}, "is reserved"),
        # each a field its gRPC request or response messages already have
        ({"name": "etag", "fields": {"a": "text"}}, "resource name 'etag' is reserved"),
        ({"name": "id", "fields": {"a": "text"}}, "resource name 'id' is reserved"),
        ({"name": "replayed", "fields": {"a": "text"}}, "resource name 'replayed' is reserved"),
        ({"name": "sum", "plural": "total", "fields": {"a": "text"}}, "plural name 'total' is reserved"),
        ({"name": "Order", "fields": {"a": "text"}}, "not a snake_case identifier"),
        ({"name": "order", "fields": [{"a": "text"}, {"a": "integer"}]}, "field 'a' is listed twice"),
        ({"name": "order", "fields": {"a": "money"}}, "resource 'order': field 'a': unknown type 'money'"),
    ],
)
def test_each_bad_resource_is_refused(data: object, message: str) -> None:
    with pytest.raises(DomainError, match=re.escape(message)):
        resource_from_data(data)


def test_a_field_error_in_a_resource_names_where_it_is() -> None:
    with pytest.raises(DomainError) as caught:
        resource_from_data({"name": "order", "fields": {"a": "text", "b": "enum"}})
    assert caught.value.loc == ("fields", "b")


@pytest.mark.parametrize(
    ("name", "plural"),
    [
        ("order", "orders"),
        ("category", "categories"),
        ("day", "days"),
        ("box", "boxes"),
        ("address", "addresses"),
        ("match", "matches"),
        ("wish", "wishes"),
        ("quiz", "quizes"),
        ("line_item", "line_items"),
    ],
)
def test_pluralize(name: str, plural: str) -> None:
    assert domain.pluralize(name) == plural


# -- the whole domain ----------------------------------------------------------------------------


def _res(name: str, *fields: str, plural: str | None = None) -> Resource:
    return Resource(name, tuple(parse_field(f) for f in fields), plural)


def shop() -> Services:
    return [
        ("users", [], [_res("user", "email:email:required:unique", "name:string(80)")]),
        (
            "orders",
            ["users"],
            [
                _res(
                    "order", "total:decimal(12,2):required", "status:enum(new,paid)", "user_id:ref(users.user):required"
                ),
                _res("line", "order_id:ref(order):required", "qty:integer"),
            ],
        ),
        ("payments", ["orders"], None),
    ]


def test_a_whole_domain_checks_and_the_placeholder_refers_to_the_callee() -> None:
    domain.check(shop())
    resolved = domain.resolve_all(shop())
    item = resolved["payments"][0]
    assert item.default and item.name == "item"
    assert [(f.name, f.ref) for f in item.fields if f.type == "ref"] == [("orders_id", "orders.order")]


@pytest.mark.parametrize(
    ("change", "message", "loc"),
    [
        (
            lambda s: s[1][2].append(_res("order", "a:text")),
            "resource 'order' is listed twice",
            ("services", 1, "resources", 0),
        ),
        (
            lambda s: s[1][2].append(_res("thing", "a:text", plural="orders")),
            "two resources have the plural 'orders'",
            ("services", 1, "resources", 0),
        ),
        (
            lambda s: s[1][2].append(_res("order_input", "a:text")),
            "resource 'order_input' would make a second OrderInput in the gRPC contract",
            ("services", 1, "resources", 2),
        ),
        (
            lambda s: s[1][2].insert(0, _res("get_line_response", "a:text")),
            "resource 'line' would make a second GetLineResponse in the gRPC contract",
            ("services", 1, "resources", 2),
        ),
        (
            lambda s: s[1][2].append(_res("orders_service", "a:text")),
            "resource 'orders_service' would make a second OrdersService in the gRPC contract",
            ("services", 1, "resources", 2),
        ),
        (
            lambda s: s[0][2].append(_res("list_x_request", "a:text", plural="x")),
            "resource 'list_x_request' would make a second ListXRequest in the gRPC contract",
            ("services", 0, "resources", 1),
        ),
        (
            lambda s: s[0][2].append(_res("x", "a_id:ref(nope.thing)")),
            "references service 'nope', which does not exist",
            ("services", 0, "resources", 1, "fields", "a_id"),
        ),
        (
            lambda s: s[0][2].append(_res("x", "a_id:ref(ghost)")),
            "users.x.a_id references users.ghost, which does not exist",
            ("services", 0, "resources", 1, "fields", "a_id"),
        ),
        (
            lambda s: s[0][2].append(_res("x", "a_id:ref(payments.item)")),
            "references payments, which users does not call",
            ("services", 0, "resources", 1, "fields", "a_id"),
        ),
        (
            lambda s: s[1][2].append(_res("o" * 30, f"{'u' * 30}_user_id:ref(users.user)")),
            f"'{'o' * 30}.{'u' * 30}_user_id' is 69 characters, over the 64 a deleted target's record holds",
            ("services", 1, "resources", 2, "fields", f"{'u' * 30}_user_id"),
        ),
    ],
)
def test_each_error_of_the_whole_domain_names_where_it_is(
    change: object, message: str, loc: tuple[object, ...]
) -> None:
    services = shop()
    change(services)  # type: ignore[operator]
    with pytest.raises(DomainError, match=re.escape(message)) as caught:
        domain.check(services)
    assert caught.value.loc == loc
    assert caught.value.hint


def test_a_cycle_of_references_is_refused() -> None:
    services = shop()
    services[0] = ("users", ["payments"], [_res("user", "pay_id:ref(payments.item)")])
    with pytest.raises(
        DomainError, match=re.escape("references go round in a cycle: users -> payments -> orders -> users")
    ):
        domain.check(services)


def test_a_reference_within_a_service_may_point_at_itself() -> None:
    services: Services = [("users", [], [_res("user", "manager_id:ref(user)")])]
    domain.check(services)


# -- diagrams ------------------------------------------------------------------------------------


def test_a_service_diagram() -> None:
    assert domain.mermaid(shop(), "orders") == (
        "erDiagram\n"
        "    orders_order {\n"
        "        int id PK\n"
        '        decimal total "required"\n'
        '        enum status "optional"\n'
        '        int user_id FK "required"\n'
        "    }\n"
        '    users_user ||--o{ orders_order : "user_id (via API)"\n'
        "    orders_line {\n"
        "        int id PK\n"
        '        int order_id FK "required"\n'
        '        integer qty "optional"\n'
        "    }\n"
        '    orders_order ||--o{ orders_line : "order_id"\n'
    )


def test_the_diagram_across_services() -> None:
    own, across = domain.diagrams(shop())
    assert list(own) == ["users", "orders", "payments"]
    assert '        email email UK "required"\n' in own["users"]
    assert across == (
        "erDiagram\n"
        "    users_user\n"
        "    orders_order\n"
        "    orders_line\n"
        "    payments_item\n"
        '    users_user ||--o{ orders_order : "user_id"\n'
        '    orders_order ||--o{ payments_item : "orders_id"\n'
    )


def test_an_optional_reference_is_drawn_zero_or_one() -> None:
    services: Services = [
        ("users", [], [_res("user", "a:text")]),
        ("orders", ["users"], [_res("order", "user_id:ref(users.user)")]),
    ]
    assert '    users_user |o--o{ orders_order : "user_id"\n' in domain.mermaid(services)


def every_type_domain() -> Services:
    """Three services, names Mermaid reads as key words, every type, references within and across."""
    return [
        ("users", [], [_res("user", "email:email:required:unique", "pk:string(20)"), _res("end", "style:json")]),
        (
            "catalog-items",
            [],
            [_res("product", "title:string(80):indexed", "price:decimal(10,2)", "about:text", "site:url", "tag:uuid")],
        ),
        (
            "orders",
            ["users", "catalog-items"],
            [
                _res(
                    "order", "user_id:ref(users.user):required", "paid:boolean", "on:date", "at:datetime", "n:integer"
                ),
                _res("line", "order_id:ref(order):required", "product_id:ref(catalog-items.product)", "s:enum(a,b)"),
            ],
        ),
    ]


def test_the_diagrams_parse_with_mermaids_own_parser(tmp_path: Path) -> None:
    tool = require_tool("mermaid-parse", "npm i mermaid jsdom (see .ci/install-tools.sh)")
    own, across = domain.diagrams(every_type_domain())
    files = []
    for index, text in enumerate([*own.values(), across]):
        files.append(tmp_path / f"d{index}.mmd")
        files[-1].write_text(text)
    broken = tmp_path / "broken.mmd"
    broken.write_text("erDiagram\n    end {\n        int id PK\n    }\n")  # a bare key word: what the prefix avoids
    result = run([tool, *map(str, files)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" er\n") == 4
    assert run([tool, str(broken)]).returncode == 1


def test_the_architecture_document_has_every_diagram_and_they_parse(tmp_path: Path) -> None:
    answers = tmp_path / "domain.yaml"
    answers.write_text(_docs_example())
    api.new_project("shop", output_dir=tmp_path, answers=answers, git=False)
    doc = (tmp_path / "shop" / "docs" / "architecture.md").read_text()
    blocks = re.findall(r"^```mermaid\n(.*?)^```$", doc, flags=re.S | re.M)
    assert [b.splitlines()[0] for b in blocks] == ["flowchart LR", "erDiagram", "erDiagram", "erDiagram", "erDiagram"]
    assert '    users_user ||--o{ orders_order : "user_id (via API)"\n' in blocks[3]
    assert '    catalog_product ||--o{ orders_line : "product_id"\n' in blocks[4]
    assert "`GET`/`POST /api/v1/orders/lines`" in doc
    tool = require_tool("mermaid-parse", "npm i mermaid jsdom (see .ci/install-tools.sh)")
    result = run([tool, str(tmp_path / "shop" / "docs" / "architecture.md")])
    assert result.returncode == 0, result.stdout
    assert result.stdout.count(" er\n") == 4


# -- answers files -------------------------------------------------------------------------------


def _docs_example() -> str:
    """The answers file docs/domain.md shows."""
    text = (REPO_ROOT / "docs" / "domain.md").read_text()
    return re.search(r"```yaml\n# domain\.yaml\n(.*?)```", text, flags=re.S).group(1)  # type: ignore[union-attr]


def test_the_documented_answers_file_is_valid(tmp_path: Path) -> None:
    from msmvp.manifest import load_answers

    answers = tmp_path / "domain.yaml"
    answers.write_text(_docs_example())
    manifest = load_answers(answers)
    declared = {s.name: [r.name for r in s.resources or []] for s in manifest.services}
    assert declared == {"users": ["user"], "catalog": ["product"], "orders": ["order", "line"]}


def test_a_bad_answers_file_gives_file_and_line(tmp_path: Path) -> None:
    answers = tmp_path / "domain.yaml"
    text = _docs_example().replace("user_id: {ref: users.user", "user_id: {ref: users.account")
    answers.write_text(text)
    line = 1 + text.splitlines().index("          user_id: {ref: users.account, required: true}")
    with pytest.raises(AnswersFileError) as caught:
        api.new_project("shop", output_dir=tmp_path / "out", answers=answers, git=False)
    assert (
        caught.value.message == f"{answers}:{line}: orders.order.user_id references users.account, which does not exist"
    )
    assert caught.value.hint == "users has: user"
    assert not (tmp_path / "out").exists()
    documented = (REPO_ROOT / "docs" / "domain.md").read_text()
    assert f"domain.yaml:{line}: orders.order.user_id references users.account" in documented


@pytest.mark.parametrize(
    ("old", "new", "message", "at"),
    [
        ("tags: json", "tags: money", "resource 'product': field 'tags': unknown type 'money'", "tags: money"),
        ("status: {type: enum, values: [new, paid, shipped], default: new}", "status: {type: enum}", "an enum needs values", "status:"),
        ("quantity: {type: integer, required: true}", "id: integer", "field name 'id' is reserved", "id: integer"),
        ("calls: [users, catalog]", "calls: [users]", "references catalog, which orders does not call", "product_id:"),
        ("- name: line", "- name: event_outbox", "resource name 'event_outbox' is reserved", "- name: event_outbox"),
        ("- name: line", "- name: replayed", "resource name 'replayed' is reserved", "- name: replayed"),
        ("- name: line", "- name: order_input", "a second OrderInput in the gRPC contract", "- name: order_input"),
    ],
)  # fmt: skip
def test_each_mistake_in_an_answers_file_names_its_line(
    tmp_path: Path, old: str, new: str, message: str, at: str
) -> None:
    text = _docs_example()
    assert old in text
    text = text.replace(old, new)
    answers = tmp_path / "domain.yaml"
    answers.write_text(text)
    with pytest.raises(AnswersFileError) as caught:
        api.new_project("shop", output_dir=tmp_path / "out", answers=answers, git=False)
    assert caught.value.message.startswith(f"{answers}:")
    where, _, said = caught.value.message.partition(": ")
    assert message in said
    line = int(where.rsplit(":", 1)[1])
    assert text.splitlines()[line - 1].strip().startswith(at), (line, text.splitlines()[line - 1])

"""protocol=grpc with declared resources: each resource's messages and methods in its service's
contract (field numbers that only append), the servicers over the HTTP API's routes, reference
checks over gRPC, and the generated project's own tests for issue 14's example domain."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from msmvp import api, domain, grow, grow_domain

from .conftest import require_tool, run
from .helpers import make_test_passes

EXAMPLE = Path(__file__).resolve().parents[1] / "bench" / "domain-example.yaml"
ORDERS = "services/orders/proto/orders/v1/orders.proto"


def _new(root: Path, git: bool = True) -> Path:
    return api.new_project(
        "shop", output_dir=root, target=root / "shop", answers=EXAMPLE, options={"protocol": "grpc"}, git=git
    ).target


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _new(tmp_path_factory.mktemp("grpc-domain"))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def _message(proto: str, name: str) -> str:
    match = re.search(rf"^message {name} \{{\n(.*?)^\}}", proto, re.MULTILINE | re.DOTALL)
    assert match, f"no message {name}"
    return match.group(1)


def test_each_resource_has_its_messages_and_methods(project: Path) -> None:
    orders = (project / ORDERS).read_text()
    for noun, plural in (("Order", "Orders"), ("Line", "Lines")):
        for verb in ("Get", "Create", "Update", "Delete"):
            assert f"rpc {verb}{noun}({verb}{noun}Request) returns ({verb}{noun}Response);" in orders
        assert f"rpc List{plural}(List{plural}Request) returns (List{plural}Response);" in orders
    assert "GetItem" not in orders and "message Item" not in orders
    order = _message(orders, "Order")
    assert "  int64 id = 1;\n" in order and "  string updated_at = 3;\n" in order
    assert "  optional int64 user_id = 4;\n" in order
    assert "  optional string status = 5;\n" in order and "One of: new, paid, shipped" in order
    assert "  optional string placed_at = 6;\n" in order
    assert "  optional string note = 7;\n" in _message(orders, "Order")
    assert "  optional int64 user_id = 1;\n" in _message(orders, "OrderInput")
    catalog = (project / "services/catalog/proto/catalog/v1/catalog.proto").read_text()
    product = _message(catalog, "ProductInput")
    for line in (
        "string sku = 1",
        "string price = 2",
        "int64 stock = 3",
        "string attributes = 4",
        "string public_id = 5",
    ):
        assert f"  optional {line};\n" in product
    users = _message((project / "services/users/proto/users/v1/users.proto").read_text(), "UserInput")
    assert "  optional bool active = 4;\n" in users
    # The caller's copy of a callee's contract is the callee's, with its resources.
    copy = (project / "services/orders/proto/users/v1/users.proto").read_text()
    assert copy == (project / "services/users/proto/users/v1/users.proto").read_text()


def test_reference_checks_call_the_referenced_resources_get(project: Path) -> None:
    clients = (project / "services/orders/orders_service/clients.py").read_text()
    assert '"users": {\n        "users": "GetUser",\n        "users/addresses": "GetAddress",\n    },' in clients
    assert '"catalog/products": "GetProduct",' in clients
    assert "code = await self.get(GETS[self.callee][resource], entity_id, authorization)" in clients
    rpc = (project / "services/orders/orders_service/rpc.py").read_text()
    assert "create=routes.create_line," in rpc and "async def ListLines(" in rpc


def test_field_numbers_only_append() -> None:
    def snapshot(*fields: str) -> list[dict[str, object]]:
        return [{"name": "order", "fields": dict.fromkeys(fields, "string")}, {"name": "item", "default": True}]

    history = [snapshot("a", "b"), snapshot("a", "b", "c"), snapshot("a", "c"), snapshot("a", "c", "b", "d")]
    numbers = domain.proto_numbers(history)
    assert numbers == {"order": {"numbers": {"a": 1, "c": 3, "b": 4, "d": 5}, "reserved": [2]}}
    assert domain.proto_numbers(history[:2])["order"] == {"numbers": {"a": 1, "b": 2, "c": 3}, "reserved": []}
    # The domain a three-way merge's base was rendered from: its numbers as they were then.
    assert domain.proto_numbers(history, {"order": ["a", "c"]})["order"] == numbers["order"] | {
        "numbers": {"a": 1, "c": 3}
    }
    assert domain.proto_numbers(history, {"order": ["a", "b"]})["order"] == {
        "numbers": {"a": 1, "b": 2},
        "reserved": [],
    }
    # A domain the history has not reached yet follows it.
    ahead = domain.proto_numbers(history, {"order": ["a", "c", "b", "d", "e"]})["order"]
    assert ahead == {"numbers": {"a": 1, "c": 3, "b": 4, "d": 5, "e": 6}, "reserved": [2]}


@pytest.mark.parametrize("git", [True, False], ids=["git", "no-git"])
def test_a_removed_field_is_reserved_in_the_contract(tmp_path: Path, git: bool) -> None:
    root = _new(tmp_path, git=git)
    # An edit of the contract is merged: its base is the contract as it was rendered before (from
    # git's objects, or rendered again from the domain of then: the same field numbers).
    contract = root / ORDERS
    contract.write_text(contract.read_text().replace("message Order {\n", "// Our orders.\nmessage Order {\n"))
    if git:
        _git(root, "commit", "-qam", "A comment in the contract")
    assert not grow_domain.remove_field(root, "orders.order", "placed_at", allow_drop=True).plan.conflicts
    assert not grow_domain.add_field(root, "orders.order", ["placed_on:date"]).plan.conflicts
    orders = contract.read_text()
    assert "// Our orders.\nmessage Order {\n" in orders
    order, given = _message(orders, "Order"), _message(orders, "OrderInput")
    assert "placed_at" not in order and "  reserved 6;\n" in order and "  optional string note = 7;\n" in order
    assert "  reserved 3;\n" in given and "  optional string placed_on = 5;\n" in given


def test_buf_lint_and_breaking_pass_after_add_field(tmp_path: Path) -> None:
    buf = require_tool("buf", "npm install -g @bufbuild/buf")
    root = _new(tmp_path)
    env = {**os.environ, "BUF_CACHE_DIR": str(tmp_path / "buf-cache")}
    lint = run([buf, "lint"], cwd=root, env=env)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    grow_domain.add_field(root, "orders.order", ["coupon:string(20)", "extra:json"])
    assert "  optional string coupon = 8;\n" in _message((root / ORDERS).read_text(), "Order")
    assert _git(root, "log", "--format=%s").count("\n") >= 2, "add-field committed"
    for args in (["lint"], ["breaking", "--against", ".git#ref=HEAD~1"]):
        result = run([buf, *args], cwd=root, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    # And buf breaking does catch a renumbered field of a declared resource.
    contract = root / ORDERS
    contract.write_text(contract.read_text().replace("optional string coupon = 8;", "optional string coupon = 10;"))
    broken = run([buf, "breaking", "--against", ".git#ref=HEAD"], cwd=root, env=env)
    assert broken.returncode != 0, broken.stdout


def test_add_field_and_upgrade_keep_a_users_edit_in_rpc_py(tmp_path: Path) -> None:
    root = _new(tmp_path)
    rpc = root / "services/catalog/catalog_service/rpc.py"
    edited = rpc.read_text().replace(
        "    async def ListProducts(", "    # Our team's note: products are listed a lot.\n    async def ListProducts("
    )
    rpc.write_text(edited)
    _git(root, "commit", "-qam", "A note in rpc.py")
    outcome = grow_domain.add_field(root, "catalog.category", ["facets:json"])
    assert not outcome.plan.conflicts
    text = rpc.read_text()
    assert "# Our team's note: products are listed a lot." in text
    assert 'json_fields=frozenset(["facets"]),' in text, "the new JSON field reached rpc.py"
    assert "optional string facets = 3;" in (root / "services/catalog/proto/catalog/v1/catalog.proto").read_text()
    again = grow.upgrade(root)
    assert not again.plan.conflicts
    assert "# Our team's note: products are listed a lot." in rpc.read_text()
    assert _git(root, "status", "--porcelain") == ""


@pytest.mark.slow
def test_the_generated_make_test_passes(project: Path) -> None:
    """Issue 14's example domain (3 services, 6 resources, every field type, references within and
    across services) with protocol=grpc: the services' unit tests (each resource over gRPC, reference
    checks over gRPC against stubbed callees), buf, and the stack tests through the real gateway."""
    summary = make_test_passes(project)
    assert int(summary.split(" passed")[0].split()[-1]) > 300, summary  # every resource's tests ran

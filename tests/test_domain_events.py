"""Declared resources with a broker: each resource publishes its own versioned events, and a
service consumes the `deleted` events of every resource of another service it references.

The domain of issue 14 (bench/domain-example.yaml: three services, six resources, references
within and across services) is rendered with each broker: every service's `asyncapi.json` is
what FastStream generates and lists each resource's channels, and (slow) the generated event and
contract tests pass on FastStream's in-memory broker.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from msmvp import api, grow_domain
from msmvp.options import AXIS_BY_NAME

from .conftest import run
from .test_messaging import asyncapi_operations, document_operations, generated_service_tests

BROKERS = sorted(AXIS_BY_NAME["messaging"].built - {"none"})
EXAMPLE = Path(__file__).resolve().parent.parent / "bench" / "domain-example.yaml"
SERVICES = ("users", "catalog", "orders")
ACTIONS = ("created", "updated", "deleted")


@pytest.fixture(scope="module", params=BROKERS)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp(f"domain-{request.param}")
    options = {"messaging": request.param}
    return api.new_project("shop", output_dir=out, answers=EXAMPLE, options=options, git=False).target


def _sent(*channels: str) -> set[tuple[str, str]]:
    return {("send", f"{channel}.{action}.v1") for channel in channels for action in ACTIONS}


def test_every_resource_publishes_its_own_events_and_references_consume_deletes(project: Path) -> None:
    asyncapi_operations(project, "orders", SERVICES)  # each document is FastStream's
    operations = {name: document_operations(project, name) for name in SERVICES}
    assert _sent("users.user", "users.address") <= operations["users"]
    assert _sent("catalog.product", "catalog.category") <= operations["catalog"]
    orders = operations["orders"]
    assert _sent("orders.order", "orders.line") <= orders
    received = {address for action, address in orders if action == "receive"}
    assert received == {"users.user.deleted.v1", "catalog.product.deleted.v1"}
    assert not {address for action, address in operations["users"] if action == "receive"}
    # The placeholder's event names are gone: each declared resource has its own.
    assert not any(".item." in address for ops in operations.values() for _action, address in ops)

    events = (project / "services/orders/orders_service/events.py").read_text()
    assert '"users.user.deleted.v1": [("order", "user_id")],' in events
    assert '"catalog.product.deleted.v1": [("line", "product_id")],' in events
    document = json.loads((project / "services/orders/asyncapi.json").read_text())
    assert document["info"]["version"] == "1.0.0"


@pytest.mark.slow
def test_generated_event_tests_cover_every_resource_on_the_in_memory_broker(project: Path) -> None:
    # users: 2 resources' publishes; catalog: 2; orders: 2, and 2 referenced resources' deletes.
    assert generated_service_tests(project, "events or asyncapi") >= 3 * 7 + 6 + 2


@pytest.fixture(scope="module")
def eventual(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("domain-eventual")
    options = {"messaging": "nats", "data": "eventual"}
    return api.new_project("shop", output_dir=out, answers=EXAMPLE, options=options, git=False).target


def test_with_eventual_data_a_read_model_per_referenced_resource_is_fed_by_all_its_events(eventual: Path) -> None:
    asyncapi_operations(eventual, "orders", SERVICES)
    received = {address for action, address in document_operations(eventual, "orders") if action == "receive"}
    assert received == {f"{channel}.{a}.v1" for channel in ("users.user", "catalog.product") for a in ACTIONS}
    read_models = (eventual / "services/orders/orders_service/read_models.py").read_text()
    assert '    "users": "users.user",\n    "catalog/products": "catalog.product",\n' in read_models
    backfill = (eventual / "services/orders/orders_service/backfill.py").read_text()
    assert 'self.path = f"/api/v1/{read_models.PATHS[source]}"' in backfill
    # The outbox and read models revision (0004) comes before the domain's own (0005 on).
    versions = sorted(p.name for p in (eventual / "services/orders/migrations/versions").glob("0*.py"))
    assert versions[:4] == [
        "0001_initial.py",
        "0002_versions_and_idempotency.py",
        "0003_events.py",
        "0004_outbox_and_read_models.py",
    ]


@pytest.mark.slow
def test_generated_outbox_and_read_model_tests_cover_every_resource(eventual: Path) -> None:
    # Per service: its outbox tests per resource; orders: its read models per referenced resource.
    assert generated_service_tests(eventual, "events or outbox or read_models or migrations", 600) >= 60


@pytest.mark.slow
def test_a_domain_revision_follows_the_outbox_revision_and_keeps_the_rows(tmp_path: Path) -> None:
    options = {"messaging": "kafka", "data": "eventual"}
    root = api.new_project("shop", output_dir=tmp_path, answers=EXAMPLE, options=options).target
    grow_domain.add_field(root, "orders.order", ["gift_note:text"])
    versions = {p.name: p.read_text() for p in (root / "services/orders/migrations/versions").glob("0*.py")}
    [added] = [name for name in versions if name.startswith("0005_")]
    assert 'down_revision: str | Sequence[str] | None = "0004"' in versions[added]
    # The generated migration tests upgrade a database holding rows through every revision.
    result = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "services/orders", "-k", "migrations"],
        cwd=root,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.slow
def test_a_callee_declaring_its_resources_later_is_followed_by_its_callers_read_model(tmp_path: Path) -> None:
    """`add-resource` on an eventual project: orders keeps its placeholder and references users'
    new resource, whose events and list API (`/api/v1/users/accounts`) its read model now follows."""
    options = {"messaging": "nats", "data": "eventual"}
    root = api.new_project("shop", output_dir=tmp_path, services="users,orders", options=options).target
    grow_domain.add_resource(root, "users", "account", ["email:email:required:unique"])
    events = (root / "services/orders/orders_service/events.py").read_text()
    assert '"users.account.created.v1": "users.account",' in events
    read_models = (root / "services/orders/orders_service/read_models.py").read_text()
    assert '    "users.account": "users/accounts",\n' in read_models
    assert generated_service_tests(root, "events or outbox or read_models") >= 10

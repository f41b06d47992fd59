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

from msmvp import api
from msmvp.options import AXIS_BY_NAME

from .conftest import run
from .test_messaging import asyncapi_operations, document_operations

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
    result = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "services", "-k", "events or asyncapi"],
        cwd=project,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # users: 2 resources' publishes; catalog: 2; orders: 2, and 2 referenced resources' deletes.
    passed = int(result.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    assert passed >= 3 * 7 + 6 + 2, result.stdout[-2000:]

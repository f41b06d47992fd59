"""A project whose services declare their domain: the repo-level tests (integration through the
real gateway, failure, tracing) and the load test create each service's primary resource, with
the entries it references made first, instead of the default item."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import run_generated_stack_tests
from .helpers import render_domain, service_tests_pass

# Three services, six resources: references within a service (address -> user, line -> order)
# and across services (order -> users.user, line -> catalog.product); unique fields of several
# types (email, string, uuid); a primary resource below its service's route (/catalog/products).
DOMAIN = """\
name: shop
services:
  - name: users
    resources:
      - name: user
        fields:
          email: {type: email, required: true, unique: true}
          display_name: {type: string, max_length: 80, required: true, indexed: true}
          active: {type: boolean, default: true}
      - name: address
        plural: addresses
        fields:
          user_id: {ref: user, required: true}
          line1: {type: string, max_length: 200, required: true}
  - name: catalog
    resources:
      - name: product
        fields:
          sku: {type: string, max_length: 40, required: true, unique: true}
          price: {type: decimal, precision: 10, scale: 2, required: true}
          public_id: {type: uuid, unique: true}
      - name: category
        plural: categories
        fields:
          title: {type: string, required: true}
  - name: orders
    calls: [users, catalog]
    resources:
      - name: order
        fields:
          user_id: {ref: users.user, required: true}
          status: {type: enum, values: [new, paid, shipped], default: new, required: true}
          placed_at: datetime
      - name: line
        fields:
          order_id: {ref: order, required: true}
          product_id: {ref: catalog.product, required: true}
          quantity: {type: integer, required: true}
"""


@pytest.fixture(scope="module")
def domain_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_domain(tmp_path_factory.mktemp("domain") / "shop", DOMAIN)


def _resources_module(project: Path) -> ModuleType:
    """The generated tests/resources.py, imported from the rendered project."""
    spec = importlib.util.spec_from_file_location(f"resources_{id(project)}", project / "tests" / "resources.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_each_service_is_exercised_through_its_primary_resource(domain_project: Path) -> None:
    resources = _resources_module(domain_project)
    assert {name: resources.first(name).path for name in ("users", "catalog", "orders")} == {
        "users": "/api/v1/users",
        "catalog": "/api/v1/catalog/products",
        "orders": "/api/v1/orders",
    }
    order = resources.first("orders")
    assert order.remote_refs == {"user_id": "users"}
    body = order.body({"user_id": 7})
    assert body["user_id"] == 7 and body["status"] == "new"
    with pytest.raises(ValueError, match="user_id"):
        order.body({})


def test_referenced_entries_are_created_first(domain_project: Path) -> None:
    resources = _resources_module(domain_project)
    line = resources.RESOURCES["orders.line"]
    order = [r.key for r in resources.creation_order(line)]
    assert order[-1] == "orders.line"
    assert order.index("users.user") < order.index("orders.order") < order.index("orders.line")
    assert "catalog.product" in order and "catalog.category" not in order


def test_unique_fields_get_a_fresh_value_per_body(domain_project: Path) -> None:
    resources = _resources_module(domain_project)
    product = resources.first("catalog")
    first, second = product.body({}), product.body({})
    for field in ("sku", "public_id"):
        assert first[field] != second[field], field
    assert len(first["sku"]) <= 40
    user = resources.first("users")
    assert user.body({})["email"] != user.body({})["email"]
    assert user.body({})["email"].endswith("@example.com")


def test_a_declared_domain_scaffolds_what_the_default_project_does(domain_project: Path, default_project: Path) -> None:
    """Its API tests are test_resources.py, not the placeholder's test_api.py: the evidence of
    error handling (2.9) and input validation (4.5) names either."""
    from msmvp import status

    def scaffolded(project: Path) -> list[str]:
        return [s.id for s in status.compute(project).items if s.evidence_level == "configured"]

    assert scaffolded(domain_project) == scaffolded(default_project)
    assert {"2.9", "4.5"} <= set(scaffolded(domain_project))


def test_the_default_project_uses_the_default_item(default_project: Path) -> None:
    data = json.loads((default_project / "tests" / "resources.json").read_text())
    assert [(svc, [r["path"] for r in entries]) for svc, entries in data.items()] == [
        ("users", ["/api/v1/users"]),
        ("orders", ["/api/v1/orders"]),
    ]
    assert data["orders"][0]["refs"] == {"users_id": ["users", "item"]}
    assert set(data["orders"][0]["example"]) == {"name", "description", "users_id"}


@pytest.mark.slow
def test_the_repo_level_tests_pass_on_the_declared_domain(domain_project: Path, tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the generated project's dependencies are not installed")
    output = run_generated_stack_tests(domain_project, tmp_path)
    # None skipped (checked by the helper): the cross-service flows ran for orders, the caller.
    assert " passed" in output


# DOMAIN's users, and an orders whose primary resource references users only through an optional
# field: its create body (the required fields) makes no call, so the tests that count outbound
# calls set it themselves.
OPTIONAL_REFERENCE = (
    DOMAIN[: DOMAIN.index("  - name: catalog")]
    + """\
  - name: orders
    calls: [users]
    resources:
      - name: order
        fields:
          note: {type: string, required: true}
          user_id: {ref: users.user}
"""
)


def test_an_optional_reference_alone_is_traced_and_resilient(tmp_path: Path) -> None:
    """The tracing and outbound-call tests of a service whose only remote reference is optional
    count the calls the body they send makes."""
    pytest.importorskip("fastapi", reason="the generated services' dependencies are not installed")
    orders = render_domain(tmp_path / "shop", OPTIONAL_REFERENCE) / "services" / "orders"
    output = service_tests_pass(
        orders, "tests/test_tracing.py", "tests/test_resilience.py", "--basetemp", str(tmp_path / "pytest")
    )
    assert "failed" not in output


# users keeps its placeholder item; orders declares an order that references it.
PLACEHOLDER_REFERENCE = """\
name: shop
services:
  - name: users
  - name: orders
    calls: [users]
    resources:
      - name: order
        fields:
          total: {type: decimal, precision: 10, scale: 2, required: true}
          user_id: {ref: users.item, required: true}
"""


def test_a_declared_resource_may_reference_a_placeholder_item(tmp_path: Path) -> None:
    """The reference to another service's placeholder is checked through its API like any other:
    the resource, tracing and outbound-call tests of the caller pass."""
    pytest.importorskip("fastapi", reason="the generated services' dependencies are not installed")
    project = render_domain(tmp_path / "shop", PLACEHOLDER_REFERENCE)
    data = json.loads((project / "tests" / "resources.json").read_text())
    assert data["orders"][0]["refs"] == {"user_id": ["users", "item"]}
    output = service_tests_pass(
        project / "services" / "orders",
        "tests/test_resources.py",
        "tests/test_tracing.py",
        "tests/test_resilience.py",
        "--basetemp",
        str(tmp_path / "pytest"),
    )
    assert "failed" not in output

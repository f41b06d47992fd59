"""Each service's `openapi.json` describes its declared resources exactly as its app publishes them.

The contract is written by msmvp (msmvp.openapi); the app's document comes from FastAPI. The
comparison runs in each generated service's own environment, from a copy of its directory, next
to the service's own contract test (compatibility, app ⊇ contract).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from .helpers import all_pass, render_domain, service_test_env, start_service_tests

# Every field type; references within a service and across services; defaults of each kind of
# value; a resource at its service's own path (orders.order) and one whose schemas sort after
# the shared Problem schemas (orders.shipment).
DOMAIN = """\
name: shop
services:
  - name: catalog
    resources:
      - name: product
        fields:
          sku: {type: string, max_length: 40, required: true, unique: true}
          price: {type: decimal, precision: 10, scale: 2, required: true}
          discount: {type: decimal, precision: 5, scale: 2, default: "0.50"}
          stock: {type: integer, default: 0}
          attributes: json
          public_id: {type: uuid, unique: true}
          kind: {type: enum, values: [physical, digital], default: physical}
      - name: category
        plural: categories
        fields:
          title: {type: string, required: true}
          description: text
  - name: users
    resources:
      - name: user
        fields:
          email: {type: email, required: true, unique: true}
          display_name: {type: string, max_length: 80, required: true, indexed: true}
          homepage: url
          active: {type: boolean, default: true}
          born_on: {type: date, default: "2000-01-01"}
  - name: orders
    calls: [users, catalog]
    resources:
      - name: order
        fields:
          user_id: {ref: users.user, required: true}
          status: {type: enum, values: [new, paid, shipped], default: new, required: true}
          placed_at: datetime
          note: text
      - name: line
        fields:
          order_id: {ref: order, required: true}
          product_id: {ref: catalog.product, required: true}
          quantity: {type: integer, required: true}
      - name: shipment
        fields:
          order_id: {ref: order}
          tracking: {type: string, max_length: 64, indexed: true}
          sent_at: {type: datetime, default: "2026-01-01T00:00:00+00:00"}
"""
SERVICES = ("catalog", "users", "orders")
# Run inside a service: the app its tests build, and the document it publishes.
PUBLISH = """\
import json
import os

from fastapi import FastAPI


def test_publish(app: FastAPI) -> None:
    with open(os.environ["MSMVP_PUBLISHED"], "w", encoding="utf-8") as out:
        json.dump(app.openapi(), out)
"""


@pytest.fixture(scope="module")
def domain_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_domain(tmp_path_factory.mktemp("domain") / "shop", DOMAIN)


@pytest.fixture(scope="module")
def published(domain_project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each service's `app.openapi()`, taken by a test inside the service, which runs its own
    contract test in the same go (both must pass)."""
    pytest.importorskip("fastapi", reason="the generated services' dependencies are not installed")
    scratch = tmp_path_factory.mktemp("published")
    pending = {}
    for name in SERVICES:
        copy = scratch / name
        shutil.copytree(domain_project / "services" / name, copy)
        (copy / "tests" / "test_publish.py").write_text(PUBLISH, encoding="utf-8")
        env = service_test_env(MSMVP_PUBLISHED=str(scratch / f"{name}.json"))
        args = ("tests/test_publish.py", "tests/test_contract.py", "--basetemp", str(scratch / f"pytest-{name}"))
        pending[name] = start_service_tests(copy, *args, env=env)
    all_pass(pending)
    return {name: json.loads((scratch / f"{name}.json").read_text(encoding="utf-8")) for name in SERVICES}


def _contract(project: Path, service: str) -> dict[str, Any]:
    return json.loads((project / "services" / service / "openapi.json").read_text(encoding="utf-8"))


def _without_operation_ids(paths: dict[str, Any]) -> dict[str, Any]:
    """The contract leaves out FastAPI's operation ids (derived from function names), as the
    default item's does."""
    return {
        path: {method: {k: v for k, v in op.items() if k != "operationId"} for method, op in item.items()}
        for path, item in paths.items()
    }


@pytest.mark.parametrize("service", SERVICES)
def test_contract_is_what_the_app_publishes(
    domain_project: Path, published: dict[str, dict[str, Any]], service: str
) -> None:
    contract, app = _contract(domain_project, service), published[service]
    paths = _without_operation_ids(app["paths"])
    assert list(contract["paths"]) == list(paths)
    for path, item in paths.items():
        for method, operation in item.items():
            mine = contract["paths"][path][method]
            where = f"{method.upper()} {path}"
            assert mine.get("parameters") == operation.get("parameters"), where
            assert mine == operation, where
    assert contract["components"]["schemas"] == app["components"]["schemas"]
    assert contract == {**app, "paths": paths}


def test_declared_resources_have_their_paths_and_schemas(domain_project: Path) -> None:
    orders = _contract(domain_project, "orders")
    assert list(orders["paths"]) == [
        "/api/v1/orders/shipments",
        "/api/v1/orders/shipments/{item_id}",
        "/api/v1/orders/lines",
        "/api/v1/orders/lines/{item_id}",
        "/api/v1/orders",
        "/api/v1/orders/{item_id}",
        "/healthz",
        "/readyz",
    ]
    schemas = orders["components"]["schemas"]
    assert list(schemas) == sorted(schemas), "FastAPI lists the schemas by name"
    assert "ItemIn" not in schemas
    listing = orders["paths"]["/api/v1/orders"]["get"]["parameters"]
    assert [p["name"] for p in listing] == ["limit", "offset", "sort", "user_id", "status"]
    assert listing[4]["schema"]["anyOf"][0] == {"enum": ["new", "paid", "shipped"], "type": "string"}
    product = _contract(domain_project, "catalog")["components"]["schemas"]["ProductIn"]
    assert product["required"] == ["sku", "price"]
    assert product["properties"]["discount"]["default"] == "0.50"
    assert product["properties"]["kind"] == {
        "anyOf": [{"type": "string", "enum": ["physical", "digital"]}, {"type": "null"}],
        "title": "Kind",
        "default": "physical",
    }
    # A reference across services may fail on its callee: create, replace and patch say so.
    post = orders["paths"]["/api/v1/orders/lines"]["post"]["responses"]
    assert {"503", "504"} <= set(post)
    assert not {"503", "504"} & set(orders["paths"]["/api/v1/orders/shipments"]["post"]["responses"])


@pytest.mark.parametrize("auth", ["jwt", "api-key"])
def test_contract_is_a_valid_openapi_document(
    auth: str, domain_project: Path, default_project: Path, tmp_path: Path
) -> None:
    from openapi_spec_validator import validate

    project = domain_project if auth == "jwt" else render_domain(tmp_path / "shop", DOMAIN, auth=auth)
    documents = [(project, service) for service in SERVICES] + [(default_project, "orders")]
    for root, service in documents:
        contract = _contract(root, service)
        validate(contract)
        schemes = set(contract["components"]["securitySchemes"])
        for item in contract["paths"].values():
            for operation in item.values():
                for requirement in operation.get("security", []):
                    assert set(requirement) <= schemes, (service, requirement)


def test_the_contract_test_refuses_what_the_app_no_longer_accepts(domain_project: Path, tmp_path: Path) -> None:
    """The generated contract test fails when the contract accepts a value the app refuses: an
    enum value of a request field, a larger bound of a parameter."""
    pytest.importorskip("fastapi", reason="the generated services' dependencies are not installed")
    copy = tmp_path / "orders"
    shutil.copytree(domain_project / "services" / "orders", copy)
    document = json.loads((copy / "openapi.json").read_text(encoding="utf-8"))
    document["components"]["schemas"]["OrderIn"]["properties"]["status"]["enum"].append("refunded")
    limit = document["paths"]["/api/v1/orders/lines"]["get"]["parameters"][0]
    limit["schema"]["maximum"] = 500
    (copy / "openapi.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    run = start_service_tests(copy, "tests/test_contract.py")
    out, _ = run.communicate(timeout=180)
    assert run.returncode == 1, out[-4000:]
    assert "POST /api/v1/orders request: field status: values no longer accepted ['refunded']" in out
    assert "PUT /api/v1/orders/{item_id} request: field status: values no longer accepted ['refunded']" in out
    assert "GET /api/v1/orders/lines: parameter limit: maximum lowered to 100" in out
    assert "1 failed, 3 passed" in out

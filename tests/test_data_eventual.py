"""data=eventual: a transactional outbox, its relay, idempotent consumers and local read models,
proven on FastStream's in-memory brokers and against each real broker.

Each broker value is rendered with data=eventual (users, orders: orders references users). The
AsyncAPI documents show orders consuming every users event, the outbox alerts pass their
promtool tests, the generated unit tests pass (the read models' backfill among them), and the
generated consistency tier, `make test-consistency`, passes on the real server, started by the
project's own runner with the binaries tests/brokers.py finds: the relay and the consumer killed
and restarted while users are written, and `make backfill` filling orders' read model with users
whose events never reached it while a rename and a deletion after it still win.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from msmvp import api, grow
from msmvp.options import AXIS_BY_NAME

from .brokers import RABBITMQ_SBIN, nats_binary, tansu_binary
from .conftest import _render, require_tool, run
from .test_messaging import asyncapi_operations

BROKERS = sorted(AXIS_BY_NAME["messaging"].built - {"none"})
pytestmark = pytest.mark.skipif("eventual" not in AXIS_BY_NAME["data"].built, reason="data=eventual is not built")


@pytest.fixture(scope="module", params=BROKERS)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _render(
        tmp_path_factory.mktemp(f"eventual-{request.param}") / "shop", messaging=request.param, data="eventual"
    )


def test_orders_consumes_every_users_event_and_its_asyncapi_document_says_so(project: Path) -> None:
    actions = asyncapi_operations(project, "orders")
    received = {address for action, address in actions if action == "receive"}
    assert received == {f"users.user.{action}.v1" for action in ("created", "updated", "deleted")}
    assert (project / "services/orders/migrations/versions/0004_outbox_and_read_models.py").is_file()
    assert (project / "services/orders/orders_service/read_models.py").is_file()


def test_outbox_alert_rules_pass_their_promtool_tests(project: Path) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    prom = project / "monitoring" / "prometheus"
    assert run([promtool, "check", "rules", "rules/outbox.yml"], cwd=prom).returncode == 0
    result = run([promtool, "test", "rules", "outbox_test.yml"], cwd=prom / "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_outbox_dashboard_charts_what_the_relay_exports(project: Path, tmp_path: Path) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    board = json.loads((project / "monitoring/grafana/dashboards/outbox.json").read_text())
    exprs = [t["expr"].replace("$service", ".*") for p in board["panels"] for t in p.get("targets", [])]
    outbox = (project / "services/users/users_service/outbox.py").read_text()
    for metric in ("events_outbox_backlog", "events_outbox_oldest_unpublished_seconds"):
        assert f'"{metric}"' in outbox
        assert any(metric in expr for expr in exprs), metric
    rules = [{"record": f"dashboard:expr_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    rule_file = tmp_path / "dashboard-rules.yml"
    rule_file.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([promtool, "check", "rules", str(rule_file)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_generated_outbox_read_model_and_event_tests_pass_on_the_in_memory_broker(project: Path) -> None:
    result = _pytest(project, "services", "-k", "outbox or read_models or events or asyncapi or migrations or api")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout and " 0 passed" not in result.stdout


def _pytest(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The generated project's own pytest, on these arguments."""
    return run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=project, env=env, timeout=420
    )


def _broker_env(broker: str) -> dict[str, str]:
    """The binaries tests/brokers.py finds, for the project's runner (skips when one is missing)."""
    if broker == "nats":
        return {"NATS_SERVER_BIN": nats_binary()}
    if broker == "kafka":
        return {"TANSU_BIN": tansu_binary()}
    server = RABBITMQ_SBIN / "rabbitmq-server"
    if not server.is_file():
        require_tool(str(server), "apt-get install rabbitmq-server")
    return {"RABBITMQ_SERVER_BIN": str(server)}


@pytest.mark.slow
@pytest.mark.parametrize("broker", BROKERS)
def test_read_models_converge_after_crashes_and_a_backfill_on_the_real_broker(
    broker: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project = _render(tmp_path_factory.mktemp(f"consistency-{broker}") / "shop", messaging=broker, data="eventual")
    env = {**os.environ, **_broker_env(broker)}
    result = _make_consistency(project, tmp_path, env)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout, result.stdout[-2000:]


def _make_consistency(project: Path, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The project's `make test-consistency` (the tier `make test` leaves out), with this interpreter."""
    args = f"-q -p no:cacheprovider --basetemp {tmp_path / 'run'}"
    return run(
        ["make", "test-consistency", f"PYTHON={sys.executable}", f"PYTEST_ARGS={args}"],
        cwd=project,
        env=env,
        timeout=420,
    )


def test_make_test_leaves_the_consistency_tier_to_make_test_consistency(project: Path) -> None:
    """`make test` stays within its budget: the crash test is skipped there, and has a target of its own."""
    skipped = _pytest(project, "tests/integration/test_consistency.py", env={**os.environ, "CONSISTENCY_TESTS": ""})
    assert skipped.returncode == 0, skipped.stdout[-2000:]
    assert "2 skipped" in skipped.stdout and "make test-consistency" in skipped.stdout, skipped.stdout[-2000:]
    listed = run(["make", "help"], cwd=project)
    assert "make test-consistency" in listed.stdout


def test_upgrade_to_eventual_with_nats_keeps_the_users_edits(tmp_path: Path) -> None:
    api.new_project("shop", output_dir=tmp_path)
    root = tmp_path / "shop"
    routes = root / "services/orders/orders_service/routes.py"
    routes.write_text(routes.read_text() + "\n# my routes edit\n")
    dev = root / "scripts/dev.py"
    dev.write_text(dev.read_text() + "\n# my runner edit\n")
    subprocess.run(["git", "commit", "-qam", "user edits"], cwd=root, check=True)

    outcome = grow.upgrade(root, {"data": "eventual", "messaging": "nats"})
    assert not outcome.plan.conflicts
    assert "my routes edit" in routes.read_text()
    assert "my runner edit" in dev.read_text()
    assert 'REFERENCE_SOURCE = "read_models"' in dev.read_text()
    for path in (
        "services/users/users_service/outbox.py",
        "services/orders/orders_service/read_models.py",
        "services/orders/migrations/versions/0004_outbox_and_read_models.py",
        "tests/integration/test_consistency.py",
        "monitoring/prometheus/rules/outbox.yml",
        "scripts/backfill.py",
        "services/orders/orders_service/backfill.py",
        "mk/data.mk",
    ):
        assert (root / path).is_file(), path
    assert "from .outbox import extend" in (root / "services/orders/orders_service/events.py").read_text()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True)
    assert status.stdout == ""

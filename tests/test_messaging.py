"""messaging=nats|rabbitmq|kafka: domain events through FastStream, proven against the real brokers.

Each built broker value is rendered once (users, orders) and checked: its AsyncAPI documents are
what FastStream generates, its generated event tests pass on FastStream's in-memory broker, its
alert rules pass their promtool tests, and a user deleted in one service reaches the other
through the real server (also after the consumer was down).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from msmvp import api, grow
from msmvp.options import AXIS_BY_NAME

from .brokers import broker_server  # noqa: F401 - a fixture
from .conftest import _render, require_tool, run

BROKERS = sorted(AXIS_BY_NAME["messaging"].built - {"none"})
EVENT_FLOW = Path(__file__).with_name("event_flow.py")


@pytest.fixture(scope="module", params=BROKERS)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _render(tmp_path_factory.mktemp(request.param) / "shop", messaging=request.param)


def _broker(project: Path) -> str:
    return str(yaml.safe_load((project / "msmvp.yaml").read_text())["options"]["messaging"])


def asyncapi_operations(
    project: Path, service: str, services: tuple[str, ...] = ("users", "orders")
) -> set[tuple[str, str]]:
    """Check every service's asyncapi.json is what FastStream generates; (action, address) of `service`'s."""
    for name in services:
        directory = project / "services" / name
        result = run([sys.executable, "-m", f"{name.replace('-', '_')}_service.events"], cwd=directory)
        assert result.returncode == 0, result.stderr
        assert result.stdout == (directory / "asyncapi.json").read_text(), f"{name}: asyncapi.json is not FastStream's"
    return document_operations(project, service)


def document_operations(project: Path, service: str) -> set[tuple[str, str]]:
    """(action, address) of every operation in `service`'s asyncapi.json."""
    document = json.loads((project / "services" / service / "asyncapi.json").read_text())
    return {
        (op["action"], document["channels"][op["channel"]["$ref"].rsplit("/", 1)[1]]["address"])
        for op in document["operations"].values()
    }


def test_asyncapi_documents_are_what_faststream_generates(project: Path) -> None:
    actions = asyncapi_operations(project, "orders")
    assert ("receive", "users.user.deleted.v1") in actions
    assert {("send", f"orders.order.{a}.v1") for a in ("created", "updated", "deleted")} <= actions
    assert ("send", "orders.dead-letter.v1") in actions


def generated_service_tests(project: Path, keyword: str, timeout: float = 300) -> int:
    """Run the generated services' tests matching `keyword`; assert they pass, return how many did."""
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "services", "-k", keyword]
    result = run(argv, cwd=project, timeout=timeout)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    return int(summary.split(" passed")[0].split()[-1]) if " passed" in summary else 0


@pytest.mark.slow
def test_generated_event_and_contract_tests_pass_on_the_in_memory_broker(project: Path) -> None:
    assert generated_service_tests(project, "events or asyncapi or migrations") > 0


def test_messaging_alert_rules_pass_their_promtool_tests(project: Path) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    prom = project / "monitoring" / "prometheus"
    assert run([promtool, "check", "rules", "rules/messaging.yml"], cwd=prom).returncode == 0
    result = run([promtool, "test", "rules", "messaging_test.yml"], cwd=prom / "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_and_kubernetes_get_the_broker_and_its_url(project: Path) -> None:
    broker = _broker(project)
    compose = yaml.safe_load((project / "deploy/compose/messaging.yaml").read_text())
    for name in ("users", "orders"):
        assert compose["services"][name]["environment"]["BROKER_URL"]
    assert "deploy/compose/messaging.yaml" in (project / "Makefile").read_text()
    kustomization = (project / "deploy/k8s/components/messaging/kustomization.yaml").read_text()
    assert "/data/BROKER_URL" in kustomization
    for overlay in ("dev", "prod"):
        overlay_file = yaml.safe_load((project / f"deploy/k8s/overlays/{overlay}/kustomization.yaml").read_text())
        assert "../../components/messaging" in overlay_file["components"]
    assert broker in (project / "docs/messaging.md").read_text().lower() or broker == "kafka"


@pytest.mark.slow
def test_the_dev_runner_starts_the_broker_and_events_flow_through_the_gateway(project: Path) -> None:
    """The generated integration test: the stack (make dev's runner) starts the real broker first."""
    result = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/integration/test_events.py"],
        cwd=project,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout, result.stdout[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("broker_server", BROKERS, indirect=True)
def test_a_deleted_user_reaches_orders_through_the_real_broker(
    broker_server: str,  # noqa: F811 - the fixture
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    broker = request.node.callspec.params["broker_server"]
    project = _render(tmp_path_factory.mktemp(f"flow-{broker}") / "shop", messaging=broker)
    workdir = tmp_path / "flow"
    workdir.mkdir()
    result = subprocess.run(
        [sys.executable, str(EVENT_FLOW), str(project), broker_server, str(workdir)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["rows"] == outcome["expected_rows"]  # each delete recorded once, on the right order
    assert outcome["inbox"] == ["users.user.deleted.v1", "users.user.deleted.v1"]
    assert outcome["published_deleted"] == 2.0


@pytest.mark.parametrize("broker", BROKERS)
def test_upgrade_to_a_broker_merges_the_users_edits(broker: str, tmp_path: Path) -> None:
    api.new_project("shop", output_dir=tmp_path)
    root = tmp_path / "shop"
    routes = root / "services/users/users_service/routes.py"
    routes.write_text(routes.read_text() + "\n# my routes edit\n")
    compose = root / "deploy/compose/compose.yaml"
    compose.write_text(compose.read_text() + "\n# my compose edit\n")
    subprocess.run(["git", "commit", "-qam", "user edits"], cwd=root, check=True)

    outcome = grow.upgrade(root, {"messaging": broker})
    assert not outcome.plan.conflicts
    assert "my routes edit" in routes.read_text()
    assert "my compose edit" in compose.read_text()
    label = {"nats": "Nats", "rabbitmq": "Rabbit", "kafka": "Kafka"}[broker]
    assert f"{label}Broker(" in (root / "services/users/users_service/broker.py").read_text()
    assert "class Events" in (root / "services/users/users_service/events.py").read_text()
    assert (root / "services/orders/asyncapi.json").is_file()
    assert (root / "services/orders/migrations/versions/0003_events.py").is_file()
    assert f"faststream[{label.lower()}," in (root / "services/orders/requirements.txt").read_text()
    assert "deploy/compose/messaging.yaml" in (root / "Makefile").read_text()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True)
    assert status.stdout == ""

    back = grow.upgrade(root, {"messaging": "none"})
    assert not back.plan.conflicts
    assert not (root / "services/users/users_service/broker.py").exists()
    assert "my routes edit" in routes.read_text()


def test_make_dev_without_rabbitmq_server_says_how_to_install_it(tmp_path: Path) -> None:
    project = _render(tmp_path / "shop", messaging="rabbitmq")
    env = {**os.environ, "RABBITMQ_SERVER_BIN": str(tmp_path / "missing"), "DEV_WORKDIR": str(tmp_path / "dev")}
    result = run([sys.executable, "scripts/dev.py", "--quiet"], cwd=project, env=env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: no RabbitMQ server: install it: sudo apt-get install rabbitmq-server (or set RABBITMQ_SERVER_BIN)"
    )


def test_the_events_dashboard_queries_are_valid_promql(project: Path, tmp_path: Path) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    board = json.loads((project / "monitoring/grafana/dashboards/messaging.json").read_text())
    grafana_vars = {"$__rate_interval": "5m", "$service": ".*"}
    rules = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, value in grafana_vars.items():
                expr = expr.replace(var, value)
            rules.append({"record": f"dashboard:expr_{len(rules)}", "expr": expr})
    assert len(rules) >= 6
    rule_file = tmp_path / "dashboard-rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([promtool, "check", "rules", str(rule_file)])
    assert result.returncode == 0, result.stdout + result.stderr

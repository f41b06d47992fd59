"""Monitoring and logging: promtool (config, rules, rule unit tests), amtool, every Grafana
panel's PromQL through promtool, and the provisioning and Fluent Bit files' structure."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from msmvp.matrix import checks

from .conftest import require_tool, run, service_names

REQUIRED_ALERTS = {
    "ServiceDown",
    "HighErrorRate",
    "HighLatencyP95",
    "SlowDependency",
    "HighCPU",
    "HighMemory",
    "CircuitBreakerOpen",
    "UpstreamEjected",
    "RateLimitedSpike",
    "AuthFailureSpike",
}
# Grafana's own variables, replaced by what they stand for at query time.
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$service": ".*"}


@pytest.fixture(params=["default", "three"])
def project(request: pytest.FixtureRequest) -> Path:
    name = "default_project" if request.param == "default" else "three_services"
    return request.getfixturevalue(name)


def test_prometheus_config_is_valid_and_scrapes_every_service(project: Path) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    result = run([promtool, "check", "config", "prometheus.yml"], cwd=project / "monitoring" / "prometheus")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((project / "monitoring" / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    targets = {t for sc in jobs["services"]["static_configs"] for t in sc["targets"]}
    # The services' metrics port, never the API port the gateway routes to.
    assert targets == {f"{n}:9102" for n in service_names(project)}
    assert jobs["gateway"]["metrics_path"] == "/stats/prometheus"
    assert "alertmanager" in jobs and config["rule_files"] == ["alerts.yml", "rules/*.yml"]


def test_kubernetes_scrape_gives_the_labels_the_rules_use(default_project: Path, tmp_path: Path) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    folder = default_project / "monitoring" / "prometheus"
    path = "monitoring/prometheus/prometheus-kubernetes.yml"
    checks.promtool_kubernetes_config(checks.Target(default_project, path, tmp_path, {"promtool": promtool}, 60))
    config = yaml.safe_load((folder / "prometheus-kubernetes.yml").read_text())
    compose = yaml.safe_load((folder / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    # The same job names as the Compose config, so `job="services"` / `job="gateway"` in the
    # rules and dashboards select the same series on both.
    assert set(jobs) == {j["job_name"] for j in compose["scrape_configs"]} - {"alertmanager"}
    assert config["rule_files"] == compose["rule_files"]
    services = jobs["services"]
    assert services["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["shop"]}}]
    relabel = {(tuple(r.get("source_labels", [])), r.get("regex"), r.get("action", "replace"), r.get("target_label"))
               for r in services["relabel_configs"]}  # fmt: skip
    assert (("__meta_kubernetes_pod_container_port_name",), "metrics", "keep", None) in relabel
    assert (("__meta_kubernetes_pod_label_app_kubernetes_io_name",), None, "replace", "service") in relabel
    gateway = {(tuple(r.get("source_labels", [])), r.get("regex")) for r in jobs["gateway"]["relabel_configs"]}
    assert (("__meta_kubernetes_pod_container_port_number",), "9901") in gateway


def test_alert_rules_are_valid_and_complete(default_project: Path) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    prom = default_project / "monitoring" / "prometheus"
    files = [prom / "alerts.yml", *sorted((prom / "rules").glob("*.yml"))]
    result = run([promtool, "check", "rules", *map(str, files)])
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = [r for f in files for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"] if "alert" in r]
    assert {r["alert"] for r in alerts} == REQUIRED_ALERTS
    for rule in alerts:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["runbook"].startswith("docs/runbook.md#"), rule["alert"]


def test_alert_rules_pass_their_unit_tests(default_project: Path) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    prom = default_project / "monitoring" / "prometheus"
    tests = ["alerts_test.yml", *(f"tests/{p.name}" for p in sorted((prom / "tests").glob("*_test.yml")))]
    for test_file in tests:
        result = run([promtool, "test", "rules", test_file.rsplit("/", 1)[-1]], cwd=prom / test_file.rpartition("/")[0])
        assert result.returncode == 0, test_file + "\n" + result.stdout + result.stderr
    tested = {name for t in tests for name in re.findall(r"alertname: (\w+)", (prom / t).read_text())}
    assert {"ServiceDown", "HighErrorRate", "CircuitBreakerOpen", "AuthFailureSpike"} <= tested


def test_alertmanager_config_is_valid_and_routes_by_severity(default_project: Path) -> None:
    amtool = require_tool("amtool", "apt-get install prometheus-alertmanager")
    path = default_project / "monitoring" / "alertmanager" / "alertmanager.yml"
    result = run([amtool, "check-config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(path.read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    assert {"oncall", "team"} <= set(receivers)
    assert receivers["oncall"]["pagerduty_configs"][0]["routing_key_file"].startswith("/run/secrets/")
    assert any(
        'severity = "critical"' in m
        for r in config["route"]["routes"]
        for m in r["matchers"]
        if r["receiver"] == "oncall"
    )
    assert config["inhibit_rules"]


def _dashboards(project: Path) -> list[dict[str, Any]]:
    """Every dashboard of the project: the services' and one per component that brings one."""
    folder = project / "monitoring" / "grafana" / "dashboards"
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def _merged(project: Path) -> dict[str, Any]:
    return {"panels": [p for d in _dashboards(project) for p in d["panels"]]}


def _dashboard_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out.append((f"{panel['title']} {target['refId']}", target["expr"]))
    return out


def test_dashboard_panels_are_valid_promql(default_project: Path, tmp_path: Path) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    exprs = _dashboard_exprs(_merged(default_project))
    assert len(exprs) >= 10
    rules = []
    for i, (_, expr) in enumerate(exprs):
        for var, value in GRAFANA_VARS.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:expr_{i}", "expr": expr})
    rule_file = tmp_path / "dashboard-rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([promtool, "check", "rules", str(rule_file)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout


def test_dashboard_covers_services_and_gateway(default_project: Path) -> None:
    dashboards = _dashboards(default_project)
    assert len({d["uid"] for d in dashboards}) == len(dashboards) >= 2
    for board in dashboards:
        assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    dashboard = _merged(default_project)
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    titles = {p["title"] for p in panels}
    for title in (
        "Request rate",
        "Error rate (5xx ratio)",
        "Latency p95",
        "CPU (cores)",
        "Memory (resident)",
        "Gateway traffic by upstream",
        "API usage by route",
    ):
        assert title in titles
    joined = " ".join(e for _, e in _dashboard_exprs(dashboard))
    for metric in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "envoy_cluster_upstream_rq_total",
    ):
        assert metric in joined
    datasource = yaml.safe_load(
        (default_project / "monitoring" / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uid = datasource["datasources"][0]["uid"]
    assert all(p["datasource"]["uid"] == uid for p in panels)


def test_grafana_provisioning_matches_the_compose_mounts(default_project: Path) -> None:
    provider = yaml.safe_load(
        (default_project / "monitoring" / "grafana" / "provisioning" / "dashboards" / "dashboards.yml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((default_project / "deploy" / "compose" / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"../../monitoring/grafana/dashboards:{path}:ro" in mounts
    assert "../../monitoring/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


def test_fluent_bit_tails_json_logs_to_a_configurable_backend(project: Path) -> None:
    config = yaml.safe_load((project / "logging" / "fluent-bit.yaml").read_text())
    pipeline = config["pipeline"]
    assert pipeline["inputs"][0]["name"] == "tail"
    parsers = {p["name"]: p for p in config["parsers"]}
    assert all(p["format"] == "json" for p in parsers.values())
    assert any(f["name"] == "parser" and f["parser"] in parsers for f in pipeline["filters"])
    output = pipeline["outputs"][0]
    assert "${" in str(output), "the backend's address must come from the environment"

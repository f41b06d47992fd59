"""The nginx gateway for the local runner (scripts/dev.py) and the integration tests.

`command(stack, binary)` writes `<workdir>/nginx.conf` from gateway/nginx.conf for loopback
processes and returns the command that runs nginx in the foreground, unprivileged:

- one worker, run as the runner's user (nginx would switch a root master's workers to `nobody`);
- every `listen` binds 127.0.0.1 (8080 -> the gateway port, 9901 -> the admin port, 8443 -> the
  TLS port, kept only when gateway/certs/ holds tls.crt and tls.key);
- each service's `upstream` points at 127.0.0.1:<its port>;
- pid, temporary files and njs paths are under the work directory and this repo;
- `$jwt_secret_file` names a file holding the stack's dev secret (the runner does not export
  JWT_SECRET, and njs does not see values set by nginx's `env` directive);
- the njs module is this machine's (NGINX_JS_MODULE, else next to the nginx binary);
- `rate_limit` = (burst, per second) replaces the per-client limit (the tests use a small one).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scripts.dev import Stack

LABEL = "nginx"
INSTALL_HINT = "`apt-get install nginx-light libnginx-mod-http-js` (Debian/Ubuntu) or set NGINX_BIN"
ROOT = Path(__file__).resolve().parent.parent
GATEWAY_DIR = ROOT / "gateway"
GATEWAY_CONFIG = GATEWAY_DIR / "nginx.conf"
JS_MODULE = "ngx_http_js_module.so"
# Where distributions put dynamic modules (Debian, RPM-based, the nginx.org packages, source).
MODULE_DIRS = ("/usr/lib/nginx/modules", "/usr/lib64/nginx/modules", "/usr/share/nginx/modules",
               "/etc/nginx/modules", "/usr/local/nginx/modules")  # fmt: skip

_UPSTREAM = re.compile(r"^(\s*upstream\s+)(\S+)(\s*\{)(.*?)(^\s*\})", re.MULTILINE | re.DOTALL)
_SERVER = re.compile(r"^(\s*server\s+)\S+:\d+", re.MULTILINE)


class GatewayConfigError(ValueError):
    """gateway/nginx.conf does not fit this project's services, or nginx lacks the njs module."""


def find_binary() -> str | None:
    """`NGINX_BIN`, else `nginx` on PATH, else /usr/sbin/nginx (not on a user's PATH on Debian)."""
    explicit = os.environ.get("NGINX_BIN")
    if explicit:
        return shutil.which(explicit)
    return shutil.which("nginx") or shutil.which("/usr/sbin/nginx")


def find_js_module(binary: str) -> Path | None:
    """`NGINX_JS_MODULE`, else ngx_http_js_module.so in a modules folder of this machine."""
    explicit = os.environ.get("NGINX_JS_MODULE")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    prefix = Path(binary).resolve().parent.parent
    for folder in (prefix / "modules", prefix / "lib" / "nginx" / "modules", *map(Path, MODULE_DIRS)):
        if (folder / JS_MODULE).is_file():
            return folder / JS_MODULE
    return None


def _sub(pattern: str, replacement: str, text: str, *, count: int = 0) -> str:
    """re.sub that insists the directive is there: the runner relies on each one."""
    result, found = re.subn(pattern, replacement, text, count=count, flags=re.MULTILINE)
    if not found:
        raise GatewayConfigError(f"gateway/nginx.conf: no line matches {pattern!r}")
    return result


def local_gateway_config(
    source: str,
    *,
    ports: dict[str, int],
    gateway_port: int,
    admin_port: int,
    workdir: Path,
    js_module: Path,
    secret_file: Path,
    edge: dict[str, str] | None = None,
    tls_port: int | None = None,
    certs_dir: Path | None = None,
    rate_limit: tuple[int, int] | None = None,
) -> str:
    """The text of gateway/nginx.conf rewritten for loopback processes (see the module doc)."""
    temp = workdir / "nginx"
    text = _sub(r"^load_module\s+\S+;", f"load_module {js_module};", source)
    text = _sub(r"^pid\s+\S+;", f"pid {workdir / 'nginx.pid'};", text)
    text = _sub(r"^(\s*)(\w+_temp_path)\s+/tmp/nginx/(\w+);", rf"\1\2 {temp}/\3;", text)
    text = _sub(r"^worker_processes\s+\S+;", "worker_processes 1;", text)
    if os.geteuid() == 0:
        # Started as root, nginx would run its workers as `nobody`, who cannot read the
        # secret file or write the work directory: keep them as the runner's user.
        text = _sub(r"^(worker_processes\s)", r"user root;\n\1", text)
    text = _sub(r'^(\s*js_var\s+\$jwt_secret_file\s+)"";', rf'\g<1>"{secret_file}";', text)
    if edge is not None and "issuer" in edge:  # an issuer's JWKS (auth's edge_token remote-jwks): the local one
        text = _sub(r'^(\s*js_var\s+\$token_issuer\s+)"[^"]*";', rf'\g<1>"{edge["issuer"]}";', text)
        text = _sub(r'^(\s*set\s+\$jwks_uri\s+)"[^"]*";', rf'\g<1>"{edge["jwks_uri"]}";', text)
        # The local JWKS is on 127.0.0.1: no name to resolve, and a cluster's DNS name would not resolve here.
        text = _sub(r"^(\s*resolver\s+)\S+", r"\g<1>127.0.0.1", text)
        text = _sub(r"^(\s*proxy_cache_path\s+)/tmp/nginx/(\w+)", rf"\g<1>{temp}/\2", text)
    text = _sub(r"^(\s*js_path\s+)\S+;", rf"\g<1>{GATEWAY_DIR}/;", text)
    text = _sub(r"^(\s*listen\s+)8080\b", rf"\g<1>127.0.0.1:{gateway_port}", text)
    text = _sub(r"^(\s*listen\s+)9901\b", rf"\g<1>127.0.0.1:{admin_port}", text)
    if tls_port is not None and certs_dir is not None:
        text = _sub(r"^(\s*listen\s+)8443\b", rf"\g<1>127.0.0.1:{tls_port}", text)
        text = _sub(r"^(\s*ssl_certificate\s+)\S+;", rf"\g<1>{certs_dir / 'tls.crt'};", text)
        text = _sub(r"^(\s*ssl_certificate_key\s+)\S+;", rf"\g<1>{certs_dir / 'tls.key'};", text)
    else:
        # nginx refuses to start on a TLS listener without certificate files.
        text = _sub(r"^\s*(listen\s+8443\b|ssl_certificate(_key)?\s).*\n", "", text)
    if rate_limit is not None:
        burst, per_second = rate_limit
        text = _sub(r"(^\s*limit_req_zone\s.*\brate=)\d+r/s", rf"\g<1>{per_second}r/s", text)
        text = _sub(r"(^\s*limit_req\s.*\bburst=)\d+", rf"\g<1>{burst}", text)

    def upstream(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in ports:
            raise GatewayConfigError(f"gateway upstream {name!r} is not a service of this project")
        body = _SERVER.sub(rf"\g<1>127.0.0.1:{ports[name]}", match.group(4))
        return match.group(1) + name + match.group(3) + body + match.group(5)

    return _UPSTREAM.sub(upstream, text)


def command(stack: Stack, binary: str) -> list[str]:
    """Write `<workdir>/nginx.conf` for this stack's ports; return the command that runs nginx."""
    # Imported here: the tests load this module by path, outside the repo's import path.
    from scripts import credentials

    js_module = find_js_module(binary)
    if js_module is None:
        raise GatewayConfigError(f"no {JS_MODULE}: `apt-get install libnginx-mod-http-js` or set NGINX_JS_MODULE")
    certs = stack.local_certs
    stack.tls_enabled = certs is not None
    (stack.workdir / "nginx").mkdir(parents=True, exist_ok=True)
    secret_file = stack.workdir / "nginx" / "jwt-secret"
    secret_file.touch(mode=0o600)
    secret_file.write_text(stack.secret)
    config = local_gateway_config(
        GATEWAY_CONFIG.read_text(),
        ports=stack.ports,
        gateway_port=stack.gateway_port,
        admin_port=stack.admin_port,
        workdir=stack.workdir,
        js_module=js_module,
        secret_file=secret_file,
        edge=credentials.edge(stack),
        tls_port=stack.tls_port,
        certs_dir=certs,
        rate_limit=stack.rate_limit,
    )
    config_path = stack.workdir / "nginx.conf"
    config_path.write_text(
        "# Generated by scripts/gateway.py from gateway/nginx.conf on every start: edit that file.\n" + config
    )
    # -p: relative paths (and the default error log before the config is read) under workdir;
    # `daemon off` keeps nginx in the foreground, so the runner owns its PID.
    return [binary, "-p", str(stack.workdir), "-c", str(config_path), "-e", "stderr", "-g", "daemon off;"]


def ready_urls(stack: Stack) -> list[str]:
    """The status port's health check, then a request through the listener."""
    return [f"{stack.admin_url}/healthz", f"{stack.gateway_url}/healthz"]


def metrics_url(stack: Stack) -> str:
    return f"{stack.admin_url}/metrics"

"""The local service registry for `make dev`: one etcd member (Debian's etcd-server, 3.4 or later).

`scripts/dev.py` starts it before the services and gives each service `ETCD_ENDPOINT`; each
service then registers its localhost port there. Ports are DEV_ETCD_PORT, or free ones. Each
run starts from an empty `.dev/etcd/`: registrations are leases, nothing in it outlives a run.
"""

from __future__ import annotations

import os
import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

LABEL = "etcd"
INSTALL_HINT = "sudo apt-get install etcd-server (or brew install etcd), or set ETCD_BIN"


def find_binary() -> str | None:
    """ETCD_BIN (when set, only that file), then PATH, then Debian's /usr/bin/etcd."""
    if os.environ.get("ETCD_BIN"):
        return os.environ["ETCD_BIN"] if Path(os.environ["ETCD_BIN"]).is_file() else None
    return shutil.which("etcd") or ("/usr/bin/etcd" if Path("/usr/bin/etcd").is_file() else None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ports(stack: Any) -> tuple[int, int]:
    """(client port, peer port), chosen once per stack."""
    if getattr(stack, "registry_ports", None) is None:
        stack.registry_ports = (int(os.environ.get("DEV_ETCD_PORT") or 0) or _free_port(), _free_port())
    return tuple(stack.registry_ports)  # type: ignore[return-value]


def processes(stack: Any) -> list[tuple[str, list[str], dict[str, str]]]:
    client_port, peer_port = _ports(stack)
    shutil.rmtree(stack.workdir / "etcd", ignore_errors=True)
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    argv = [
        find_binary() or "etcd", "--name", "dev", "--data-dir", str(stack.workdir / "etcd"),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"dev={peer}", "--log-level", "warn",
    ]  # fmt: skip
    return [("etcd", argv, dict(os.environ))]


def ready(stack: Any, _name: str) -> bool:
    client_port, _peer = _ports(stack)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{client_port}/health", timeout=1.0) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def service_env(stack: Any) -> dict[str, str]:
    client_port, _peer = _ports(stack)
    return {"ETCD_ENDPOINT": f"127.0.0.1:{client_port}"}

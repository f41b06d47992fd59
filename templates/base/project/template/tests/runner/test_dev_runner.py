"""The local runner (scripts/dev.py) on its own, without starting the stack."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from scripts.dev import SERVICES, Stack, StackError


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stack_with_taken_port(tmp_path: Path, port: int, kind: str) -> Stack:
    """A stack on free ports, except the first service's `kind` port ("api" or "metrics")."""
    first = SERVICES[0].name
    ports = {svc.name: _free_port() for svc in SERVICES}
    metrics_ports = {svc.name: _free_port() for svc in SERVICES}
    (ports if kind == "api" else metrics_ports)[first] = port
    return Stack(
        workdir=tmp_path,
        ports=ports,
        metrics_ports=metrics_ports,
        gateway_port=_free_port(),
        admin_port=_free_port(),
        tls_port=_free_port(),
        echo=False,
    )


@pytest.mark.parametrize(("kind", "named"), [("api", "'s port"), ("metrics", "'s metrics port")])
def test_a_port_in_use_is_found_before_anything_starts(tmp_path: Path, kind: str, named: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stack = _stack_with_taken_port(tmp_path, port, kind)
        with pytest.raises(StackError) as error:
            stack.check_ports()
    message = str(error.value)
    assert "\n" not in message
    assert f"port {port} is already in use: set {SERVICES[0].name}{named}" in message
    assert "DEV_BASE_PORT" in message
    assert not stack.processes, "nothing may start"


def test_each_service_gets_a_metrics_port_of_its_own(tmp_path: Path) -> None:
    stack = Stack(workdir=tmp_path, base_port=18000, echo=False)
    for svc in SERVICES:
        metrics_port = stack.metrics_ports[svc.name]
        assert metrics_port == stack.ports[svc.name] + 1000
        env = stack.service_env(svc)
        assert (env["METRICS_HOST"], env["METRICS_PORT"]) == ("127.0.0.1", str(metrics_port))
        assert stack.metrics_url(svc.name) == f"http://127.0.0.1:{metrics_port}/metrics"
    assert len(set(stack.metrics_ports.values()) | set(stack.ports.values())) == 2 * len(SERVICES)


def test_a_crashed_process_is_restarted_with_backoff_and_the_others_keep_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts import dev

    monkeypatch.setattr(dev, "RESTART_BACKOFF", (0.05, 0.2))
    stack = Stack(workdir=tmp_path, echo=False)
    lines: list[str] = []
    stack._spawn("crashy", [sys.executable, "-c", "raise SystemExit(3)"], cwd=tmp_path, env=dict(os.environ))
    stack._spawn("steady", [sys.executable, "-c", "import time; time.sleep(30)"], cwd=tmp_path, env=dict(os.environ))
    steady_pid = stack.processes["steady"].popen.pid
    try:
        deadline = time.monotonic() + 10
        while stack.processes["crashy"].restarts < 3 and time.monotonic() < deadline:
            stack.supervise(lines.append)
            time.sleep(0.02)
        assert stack.processes["crashy"].restarts >= 3, lines
        assert stack.processes["steady"].popen.poll() is None, "the others keep running"
        assert stack.processes["steady"].popen.pid == steady_pid
    finally:
        stack.stop()
    crashes = [line for line in lines if "crashy exited with 3" in line]
    delays = [float(line.split("restarting in ")[1].split(" s")[0]) for line in crashes]
    assert delays[:3] == [0.05, 0.1, 0.2], lines
    assert any("crashy restarted" in line for line in lines)

"""Measure the generated stack: one service's throughput, what the gateway costs, `make dev`'s
cold start and the generated project's `make test`.

    python bench/bench_stack.py [--rounds 3] [--seconds 8] [--connections 16] [--test-runs 1]

Generates the default project into a temp dir and runs it with the current interpreter (which
must have the generated project's requirements: `make install` of a generated project, or the
msmvp dev environment). Load comes from `wrk` (apt-get install wrk) over loopback, bounded in
time; each run is an authenticated GET by id, with metrics and JSON access logs on.

1. One service process: uvicorn on a free loopback port, its logs to a file, alone.
2. The gateway: the dev runner's stack (every service and the gateway, as `make dev` starts
   them), direct to the service and through the gateway, alternating.
3. `make dev` cold start: `scripts/dev.py` in a fresh work directory until it prints "is up".
4. The generated project's `make test` (pytest), wall time.

Budgets (issue 8, PRODUCT.md): one service >= 1,500 req/s with p99 <= 25 ms at 16 connections;
through the gateway >= 80% of direct and <= 2 ms added at p50; cold start <= 5 s; make test <= 20 s.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

SERVICE = "users"
BUDGET_RPS = 1500
BUDGET_P99_MS = 25.0
BUDGET_GATEWAY_RATIO = 0.8
BUDGET_GATEWAY_P50_MS = 2.0
BUDGET_COLD_START_S = 5.0
BUDGET_MAKE_TEST_S = 20.0
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Load:
    """Results of the runs of one target: requests/s and latency percentiles in ms."""

    label: str
    rps: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    # Server CPU per request (microseconds): what a request costs, whatever else runs on the machine.
    cpu_us: list[float] = field(default_factory=list)

    def add(self, result: Result, cpu_seconds: float) -> None:
        self.rps.append(result.rps)
        self.p50.append(result.p50)
        self.p99.append(result.p99)
        self.cpu_us.append(cpu_seconds / result.requests * 1e6)

    def line(self) -> str:
        med = statistics.median
        return (
            f"{self.label:<30} {med(self.rps):6.0f} req/s  p50 {med(self.p50):6.2f} ms  p99 {med(self.p99):6.2f} ms"
            f"  server CPU {med(self.cpu_us):4.0f} us/request (= {1e6 / med(self.cpu_us):.0f} req/s per core)"
            f"  (req/s min {min(self.rps):.0f}, max {max(self.rps):.0f})"
        )


@dataclass(frozen=True)
class Result:
    rps: float
    p50: float
    p99: float
    requests: int


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def measured(url: str, token: str, args: argparse.Namespace, pids: list[int]) -> tuple[Result, float]:
    """One wrk run and the CPU seconds the server processes spent on it."""
    before = cpu_seconds(pids)
    result = wrk(url, token, args.seconds, args.connections)
    return result, cpu_seconds(pids) - before


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wrk(url: str, token: str, seconds: int, connections: int) -> Result:
    """Requests/s, p50 and p99 (ms) and requests of one bounded wrk run; exits on a non-2xx answer."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {token}", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    if "Non-2xx" in out:
        sys.exit(f"non-2xx answers from {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def percentile(name: str) -> float:
        value, unit = re.search(rf"^\s+{name}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE).groups()  # type: ignore[union-attr]
        return float(value) * _UNITS[unit]

    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Result(rps, percentile("50"), percentile("99"), requests)


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - a loopback URL we built
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"not ready in time: {url}")


def create_entry(base_url: str, token: str) -> str:
    """POST one entry; the URL of the entry the load reads."""
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base_url}/api/v1/{SERVICE}",
        data=b'{"name": "bench"}',
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return f"{base_url}{response.headers['Location']}"


def generate(work: Path) -> Path:
    from msmvp.testing import render_project

    return render_project(work / "shop")


def import_project(project: Path) -> tuple[ModuleType, ModuleType]:
    """The generated project's `scripts.dev` and `scripts.token` modules."""
    sys.path.insert(0, str(project))
    import scripts.dev as dev
    import scripts.token as token

    return dev, token


def single_service(project: Path, dev: ModuleType, token_module: ModuleType, args: argparse.Namespace) -> Load:
    """One uvicorn process of the service, alone, logs to a file."""
    svc = next(s for s in dev.SERVICES if s.name == SERVICE)
    work = project / ".bench"
    work.mkdir()
    secret = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
        "JWT_SECRET": secret,
        "LOG_LEVEL": "INFO",
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(free_port()),
    }
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=svc.directory,
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", f"{svc.package}.main:app", "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log",
    ]  # fmt: skip
    with (work / "service.log").open("wb") as log:
        server = subprocess.Popen(command, cwd=svc.directory, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/readyz")
        token = token_module.mint(secret, ("admin",), sub="bench", ttl=3600)
        url = create_entry(base, token)
        wrk(url, token, 2, args.connections)  # warm-up
        load = Load(f"one service ({SERVICE}), direct")
        for _ in range(args.rounds):
            load.add(*measured(url, token, args, [server.pid]))
        return load
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def through_gateway(project: Path, dev: ModuleType, token_module: ModuleType, args: argparse.Namespace) -> list[Load]:
    """The dev runner's stack; direct and through-gateway runs alternate."""
    ports = {svc.name: free_port() for svc in dev.SERVICES}
    stack = dev.Stack(
        workdir=project / ".bench-stack",
        ports=ports,
        metrics_ports={svc.name: free_port() for svc in dev.SERVICES},
        gateway_port=free_port(),
        admin_port=free_port(),
        tls_port=free_port(),
        # A bucket the load cannot empty: this measures the proxy, not the rate limit.
        rate_limit=(10_000_000, 10_000_000),
    )
    stack.start()
    try:
        token = token_module.mint(stack.secret, ("admin",), sub="bench", ttl=3600)
        path = create_entry(stack.service_url(SERVICE), token).split("/api/", 1)[1]
        service_pid = stack.processes[SERVICE].popen.pid
        # Through the gateway, the request costs the service and every process of the gateway.
        edge_pids = [proc.popen.pid for name, proc in stack.processes.items() if name not in stack.ports]
        targets = {
            "stack: service direct": (f"{stack.service_url(SERVICE)}/api/{path}", [service_pid]),
            "stack: through the gateway": (f"{stack.gateway_url}/api/{path}", [service_pid, *edge_pids]),
        }
        loads = {label: Load(label) for label in targets}
        for url, _pids in targets.values():
            wrk(url, token, 2, args.connections)  # warm-up
        for _ in range(args.rounds):
            for label, (url, pids) in targets.items():
                loads[label].add(*measured(url, token, args, pids))
        return list(loads.values())
    finally:
        stack.stop()


def cold_start(project: Path, runs: int) -> list[float]:
    """Seconds from starting `scripts/dev.py` in a fresh work directory to its "is up" line."""
    times = []
    for index in range(runs):
        env = {
            **os.environ,
            "DEV_WORKDIR": str(project / f".bench-cold-{index}"),
            "DEV_GATEWAY_PORT": str(free_port()),
            "DEV_ADMIN_PORT": str(free_port()),
            "DEV_TLS_PORT": str(free_port()),
            "DEV_BASE_PORT": str(free_base_port()),
        }
        started = time.perf_counter()
        runner = subprocess.Popen(
            [sys.executable, "scripts/dev.py", "--quiet"], cwd=project, env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            assert runner.stdout is not None
            for line in runner.stdout:
                if " is up in " in line:
                    times.append(time.perf_counter() - started)
                    break
            else:
                sys.exit(f"make dev did not come up (exit {runner.wait()})")
        finally:
            runner.send_signal(signal.SIGINT)
            runner.wait(timeout=30)
    return times


def free_base_port() -> int:
    """A base port whose service ports (base + 1, ...) and metrics ports (+ 1000) are free."""
    for base in range(20_000, 40_000, 37):
        wanted = [base + offset for offset in range(1, 10)] + [base + 1000 + offset for offset in range(1, 10)]
        try:
            for port in wanted:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    sys.exit("no free base port")


def make_test(project: Path, runs: int) -> list[float]:
    """Wall seconds of the generated project's `make test` (its two pytest-xdist workers included)."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "JWT_SECRET", "REDIS_URL")}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            ["make", "test", f"PYTHON={sys.executable}", "PYTEST_ARGS=-q -p no:cacheprovider"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        times.append(time.perf_counter() - started)
        summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]
        print(f"  make test: {summary}")
    return times


def verdict(ok: bool) -> str:
    return "within" if ok else "OVER"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="load runs per target (alternated)")
    parser.add_argument("--seconds", type=int, default=8, help="length of one load run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--test-runs", type=int, default=1, help="runs of the generated make test (0: skip)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    print(
        f"generated stack, default project; {args.rounds} rounds of {args.seconds} s at {args.connections} connections;"
        f" {os.cpu_count()} cores; Python {sys.version.split()[0]}; load {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="msmvp-bench-stack-") as tmp:
        project = generate(Path(tmp))
        dev, token_module = import_project(project)
        single = single_service(project, dev, token_module, args)
        direct, gateway = through_gateway(project, dev, token_module, args)
        starts = cold_start(project, args.cold_starts)
        tests = make_test(project, args.test_runs)

    med = statistics.median
    for load in (single, direct, gateway):
        print(load.line())
    rps_ok = med(single.rps) >= BUDGET_RPS and med(single.p99) <= BUDGET_P99_MS
    print(f"one service: budget >= {BUDGET_RPS} req/s, p99 <= {BUDGET_P99_MS:g} ms: {verdict(rps_ok)}")
    ratio = med(gateway.rps) / med(direct.rps)
    added = med(gateway.p50) - med(direct.p50)
    print(
        f"gateway: {ratio:.2f}x direct throughput, +{added:.2f} ms at p50"
        f" (budget >= {BUDGET_GATEWAY_RATIO}x, <= {BUDGET_GATEWAY_P50_MS:g} ms:"
        f" {verdict(ratio >= BUDGET_GATEWAY_RATIO and added <= BUDGET_GATEWAY_P50_MS)})"
    )
    print(
        f"make dev cold start: median {med(starts):.2f} s (min {min(starts):.2f}, max {max(starts):.2f};"
        f" budget {BUDGET_COLD_START_S:g} s: {verdict(med(starts) <= BUDGET_COLD_START_S)})"
    )
    if tests:
        print(
            f"generated make test: median {med(tests):.1f} s"
            f" (budget {BUDGET_MAKE_TEST_S:g} s: {verdict(med(tests) <= BUDGET_MAKE_TEST_S)})"
        )


if __name__ == "__main__":
    main()

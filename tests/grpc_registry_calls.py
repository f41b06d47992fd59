"""A gRPC caller that finds its callee in a service registry: run inside a rendered project.

`python grpc_registry_calls.py etcd|consul PROJECT` (a project with protocol=grpc, its stubs
generated, services users and orders): two instances of users serve gRPC and register with the
registry, advertising their gRPC port; one runs in a child process, so it can be killed. orders'
own gRPC client (clients.build_clients over orders' discovery) then calls users: the calls spread
over both instances; once the child is killed (SIGKILL: no deregistration) every call still
succeeds on the other one, and when the registry forgets the dead instance, its channel is
closed. etcd is the real server (the generated tests' `Etcd`); Consul is the generated tests'
stand-in agent, where the readiness check failing is set by hand, as an agent's would be.
Exits non-zero with the failed check.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

CALLS = 20

# The child: one instance of users on a loopback gRPC server, registered; prints its address.
CHILD = """
import asyncio, sys
import httpx
from orders_service.clients import stub_callees
from orders_service.observability import Metrics
import orders_service.discovery as discovery

def ok(request):
    return httpx.Response(200, json={"id": 1})

async def main():
    with stub_callees(ok) as targets:
        config = discovery.%(settings)s(_env_file=None, **%(config)r, instance_id="users-a")
        found = discovery.%(cls)s("users", [], config, Metrics("a"))
        found.advertise("grpc", int(targets["users"].rsplit(":", 1)[1]))
        await found.start()
        print(targets["users"], flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"generated_{path.parent.parent.name}_tests", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _until(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)


class Registry:
    """The registry the instances use: how to configure a discovery, and what the agent does."""

    settings = ""
    cls = ""

    def config(self) -> dict[str, Any]:
        raise NotImplementedError

    def instance_failed(self, instance_id: str) -> None:
        """What the registry does on its own about an instance that died (etcd: its lease runs out)."""

    def instance_registered(self, instance_id: str) -> None:
        """What the registry does on its own about a new instance (Consul: its check passes)."""

    def stop(self) -> None:
        raise NotImplementedError


class Etcd(Registry):
    settings, cls = "EtcdSettings", "EtcdDiscovery"

    def __init__(self, tests: ModuleType, workdir: Path) -> None:
        binary = tests._etcd_binary()
        if binary is None:
            raise SystemExit("no etcd binary (apt-get install etcd-server)")
        self.server = tests.Etcd(binary, workdir)
        self.server.start()

    def config(self) -> dict[str, Any]:
        return {
            "etcd_endpoint": self.server.endpoint,
            "discovery_prefix": "/calls/services/",
            "discovery_ttl_seconds": 2,
            "discovery_timeout_seconds": 1.0,
            "instance_host": "127.0.0.1",
        }

    def stop(self) -> None:
        self.server.stop()


class Consul(Registry):
    settings, cls = "ConsulSettings", "ConsulDiscovery"

    def __init__(self, tests: ModuleType) -> None:
        self.agent = tests.FakeConsul()
        self.agent.start()

    def config(self) -> dict[str, Any]:
        return {
            "consul_http_addr": self.agent.addr,
            "discovery_wait_seconds": 1,
            "discovery_timeout_seconds": 0.5,
            "instance_host": "127.0.0.1",
        }

    def instance_registered(self, instance_id: str) -> None:
        self.agent.set_check(instance_id, "passing")

    def instance_failed(self, instance_id: str) -> None:
        self.agent.set_check(instance_id, "critical")

    def stop(self) -> None:
        self.agent.stop()


async def scenario(registry: Registry, service_dir: Path) -> None:
    import httpx
    from orders_service import auth_testing, discovery  # type: ignore[import-not-found]
    from orders_service.clients import build_clients, stub_callees  # type: ignore[import-not-found]
    from orders_service.observability import Metrics  # type: ignore[import-not-found]
    from orders_service.settings import Settings  # type: ignore[import-not-found]

    def config(instance_id: str) -> Any:
        return getattr(discovery, registry.settings)(_env_file=None, **registry.config(), instance_id=instance_id)

    hits: list[str] = []

    def counted(request: httpx.Request) -> httpx.Response:
        hits.append(request.url.path)
        return httpx.Response(200, json={"id": 1})

    child = CHILD % {"settings": registry.settings, "cls": registry.cls, "config": registry.config()}
    doomed = subprocess.Popen([sys.executable, "-c", child], cwd=service_dir, stdout=subprocess.PIPE, text=True)
    try:
        assert doomed.stdout is not None
        address_a = doomed.stdout.readline().strip()
        assert address_a, "the child instance did not start"
        registry.instance_registered("users-a")
        with stub_callees(counted) as targets:
            address_b = targets["users"]
            second = getattr(discovery, registry.cls)("users", [], config("users-b"), Metrics("b"))
            second.advertise("grpc", int(address_b.rsplit(":", 1)[1]))
            await second.start()
            registry.instance_registered("users-b")

            settings = Settings(
                _env_file=None, **auth_testing.SETTINGS, log_level="WARNING", http_retry_backoff_seconds=0
            )
            metrics = Metrics("orders")
            caller = getattr(discovery, registry.cls)("orders", ["users"], config("orders-1"), metrics)
            await caller.start()
            client = build_clients(settings, metrics, caller)["users"]
            await _until(lambda: sorted(client.addresses()) == sorted([address_a, address_b]), 5, "both resolved")

            for _ in range(CALLS):
                assert await client.exists("users", 1, None)
            assert len(hits) == CALLS // 2, f"round robin over two instances: {len(hits)} of {CALLS} on one"

            doomed.send_signal(signal.SIGKILL)  # no deregistration: the registry still lists it
            doomed.wait()
            before = len(hits)
            for _ in range(CALLS):
                assert await client.exists("users", 1, None), "a call failed while one instance was dead"
            assert len(hits) - before == CALLS, "every call went to the live instance"

            registry.instance_failed("users-a")
            await _until(lambda: client.addresses() == [address_b], 10, "the dead instance forgotten")
            assert await client.exists("users", 1, None)
            assert client.open_channels == [address_b], client.open_channels
            await client.close()
            for found in (caller, second):
                await found.stop()
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait()


def main() -> None:
    which, project = sys.argv[1], Path(sys.argv[2])
    service_dir = project / "services" / "orders"
    sys.path.insert(0, str(service_dir))
    os.chdir(service_dir)
    tests = _load(service_dir / "tests" / "test_discovery.py")
    with tempfile.TemporaryDirectory() as workdir:
        registry: Registry = Etcd(tests, Path(workdir)) if which == "etcd" else Consul(tests)
        try:
            asyncio.run(scenario(registry, service_dir))
        finally:
            registry.stop()
    print("ok")


if __name__ == "__main__":
    main()

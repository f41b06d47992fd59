"""W3C trace context through the real gateway: a request that comes in with a `traceparent` is
handled under that trace by the service it reaches and by every service that one calls."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

import pytest

from scripts.dev import REFERENCE_SOURCE, SERVICES, ServiceSpec, Stack

from ..conftest import Api, OtlpSink
from ..resources import first

pytestmark = pytest.mark.integration

# Services whose first resource references another service's (orders → users): the trace must
# cross that call too.
CALLERS = [svc for svc in SERVICES if first(svc.name).remote_refs] or SERVICES[:1]


def _trace_ids(stack: Stack, process: str) -> set[str]:
    """The `trace_id` of every JSON line `process` has logged so far."""
    lines = stack.log_path(process).read_text().splitlines()
    return {str(json.loads(line).get("trace_id")) for line in lines if line.startswith("{")}


@pytest.mark.parametrize("svc", CALLERS, ids=[svc.name for svc in CALLERS])
def test_traceparent_passes_through_the_gateway_and_every_call(
    svc: ServiceSpec, api: Api, stack: Stack, otlp: OtlpSink, poll: Callable[..., bool]
) -> None:
    refs = api.references(svc)
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    resource = first(svc.name)
    response = api.client.post(
        resource.path, json=resource.body(refs), headers={**api.headers("writer"), "traceparent": traceparent}
    )
    assert response.status_code == 201, response.text

    # The caller and each callee it checked a reference with logged under the caller's trace id
    # (none when references are checked locally).
    callees = resource.callees if REFERENCE_SOURCE == "api" else []
    for process in (svc.name, *callees):
        assert poll(lambda process=process: trace_id in _trace_ids(stack, process)), (
            f"{process} logged no line with trace_id {trace_id}"
        )
    # And their spans, exported over OTLP, belong to that one trace.
    expected = {svc.name, *callees}
    assert poll(lambda: expected <= {name for name, tid in otlp.spans() if tid == trace_id}, timeout=10.0), (
        f"spans of {sorted(expected)} with trace id {trace_id} never arrived"
    )

"""Load test through the gateway: `make load` (against a running `make dev`).

Each simulated user lists, reads and creates entries in every service, including the
cross-service create that checks its references. Bounded by `make load`
(LOAD_USERS users for LOAD_TIME); tokens come from the chosen auth's dev credentials
(scripts/credentials.py). The gateway's rate limit (set in gateway/, 200 burst / 100 per second) applies:
429s in the report mean the load exceeded it, not that a service failed.
See docs/performance.md for the targets.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from locust import HttpUser, between, task

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.credentials import dev_token, header
from scripts.dev import SERVICES

MODULES = {svc.name: svc.module for svc in SERVICES}


class ApiUser(HttpUser):
    """A writer using every service through the gateway."""

    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.client.headers.update(header(dev_token(["writer"], sub="load-test")))
        self.known: dict[str, list[int]] = {svc.name: [] for svc in SERVICES}
        for svc in SERVICES:
            if not svc.calls:
                self._create(svc.name, {})

    def _create(self, name: str, refs: dict[str, int]) -> None:
        body: dict[str, object] = {"name": f"load {random.randint(0, 1_000_000)}"}
        body.update({f"{MODULES[callee]}_id": entity_id for callee, entity_id in refs.items()})
        with self.client.post(f"/api/v1/{name}", json=body, name=f"POST /api/v1/{name}", catch_response=True) as r:
            if r.status_code == 201:
                self.known[name].append(int(r.json()["id"]))
                r.success()
            else:
                r.failure(f"{r.status_code}: {r.text[:200]}")

    @task(5)
    def list_entries(self) -> None:
        svc = random.choice(SERVICES)
        self.client.get(f"/api/v1/{svc.name}?limit=20", name=f"GET /api/v1/{svc.name}")

    @task(3)
    def read_entry(self) -> None:
        candidates = [name for name, ids in self.known.items() if ids]
        if candidates:
            name = random.choice(candidates)
            self.client.get(f"/api/v1/{name}/{random.choice(self.known[name])}", name=f"GET /api/v1/{name}/{{id}}")

    @task(1)
    def create_entry(self) -> None:
        svc = random.choice(SERVICES)
        refs = {}
        for callee in svc.calls:
            if not self.known[callee]:
                return
            refs[callee] = random.choice(self.known[callee])
        self._create(svc.name, refs)

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
from tests.resources import RESOURCES, Resource, creation_order, first

# Each service is exercised through its first resource; the resources those reference (in any
# service) are created too, so every cross-service create has ids to check.
USED = [first(svc.name) for svc in SERVICES]
NEEDED = list(dict.fromkeys(r for used in USED for r in creation_order(used)))


class ApiUser(HttpUser):
    """A writer using every service through the gateway."""

    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.client.headers.update(header(dev_token(["writer"], sub="load-test")))
        self.known: dict[str, list[int]] = {r.key: [] for r in RESOURCES.values()}
        for resource in NEEDED:
            self._create(resource)

    def _create(self, resource: Resource) -> None:
        refs = {}
        for field, (service, name) in resource.refs.items():
            ids = self.known[f"{service}.{name}"]
            if not ids:
                return
            refs[field] = random.choice(ids)
        path = resource.path
        with self.client.post(path, json=resource.body(refs), name=f"POST {path}", catch_response=True) as r:
            if r.status_code == 201:
                self.known[resource.key].append(int(r.json()["id"]))
                r.success()
            else:
                r.failure(f"{r.status_code}: {r.text[:200]}")

    @task(5)
    def list_entries(self) -> None:
        path = random.choice(USED).path
        self.client.get(f"{path}?limit=20", name=f"GET {path}")

    @task(3)
    def read_entry(self) -> None:
        candidates = [r for r in USED if self.known[r.key]]
        if candidates:
            resource = random.choice(candidates)
            entry_id = random.choice(self.known[resource.key])
            self.client.get(f"{resource.path}/{entry_id}", name=f"GET {resource.path}/{{id}}")

    @task(1)
    def create_entry(self) -> None:
        self._create(random.choice(USED))

"""Run inside a generated project (users, orders): both apps against a real broker.

    python event_flow.py PROJECT BROKER_URL WORKDIR  ->  one JSON line on stdout

Orders references users. Deleting a user must reach orders through the broker and be recorded
against the orders pointing at it, once, also when orders was stopped while the user was deleted
(its durable consumer catches up on start).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

SECRET = "event-flow-secret-that-is-long-enough-for-hs256"


async def _wait_for_rows(app: Any, model: Any, count: int, timeout: float) -> float:
    from sqlalchemy import func, select

    began = time.monotonic()
    while time.monotonic() - began < timeout:
        async with app.state.sessionmaker() as session:
            if await session.scalar(select(func.count()).select_from(model)) >= count:
                return time.monotonic() - began
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{count} {model.__tablename__} rows not there after {timeout} s")


async def main(project: Path, url: str, workdir: Path) -> dict[str, Any]:
    os.environ["BROKER_URL"] = url
    os.environ["EVENT_RETRY_BACKOFF_SECONDS"] = "0.05"
    sys.path[:0] = [str(project / "services" / "users"), str(project / "services" / "orders")]
    import httpx
    import jwt
    from orders_service import main as orders_main
    from orders_service.events import DanglingReference, InboxEntry
    from orders_service.models import Base as OrdersBase
    from orders_service.settings import Settings as OrdersSettings
    from sqlalchemy import create_engine, select
    from users_service import main as users_main
    from users_service.models import Base as UsersBase
    from users_service.settings import Settings as UsersSettings

    common = {"_env_file": None, "jwt_secret": SECRET, "jwt_issuer": "t", "jwt_audience": "t", "log_level": "WARNING"}
    users_db, orders_db = f"sqlite:///{workdir / 'users.db'}", f"sqlite:///{workdir / 'orders.db'}"
    for db, base in ((users_db, UsersBase), (orders_db, OrdersBase)):
        engine = create_engine(db)
        base.metadata.create_all(engine)
        engine.dispose()
    token = jwt.encode({"sub": "t", "roles": ["admin"], "iss": "t", "aud": "t", "exp": int(time.time()) + 600}, SECRET)
    headers = {"Authorization": f"Bearer {token}"}

    users = users_main.create_app(UsersSettings(database_url=users_db, **common))

    def orders_app() -> Any:
        settings = OrdersSettings(database_url=orders_db, users_url="http://users.test", **common)
        return orders_main.create_app(settings, http_transport=httpx.ASGITransport(app=users))

    def client(app: Any, host: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}", headers=headers)

    result: dict[str, Any] = {}
    async with users.router.lifespan_context(users), client(users, "users.test") as u:
        user_ids = [(await u.post("/api/v1/users", json={"name": f"u{i}"})).json()["id"] for i in (1, 2)]
        orders = orders_app()
        async with orders.router.lifespan_context(orders), client(orders, "orders.test") as o:
            order_ids = []
            for user_id in user_ids:
                created = await o.post("/api/v1/orders", json={"name": "o", "users_id": user_id})
                assert created.status_code == 201, created.text
                order_ids.append(created.json()["id"])
            assert (await u.delete(f"/api/v1/users/{user_ids[0]}")).status_code == 204
            result["first_seconds"] = await _wait_for_rows(orders, DanglingReference, 1, 60)
        # Orders is down while the second user is deleted; it catches up when it starts again.
        assert (await u.delete(f"/api/v1/users/{user_ids[1]}")).status_code == 204
        orders = orders_app()
        async with orders.router.lifespan_context(orders):
            result["catch_up_seconds"] = await _wait_for_rows(orders, DanglingReference, 2, 60)
            await asyncio.sleep(1.0)  # a duplicate delivery would land here
            async with orders.state.sessionmaker() as session:
                rows = (await session.scalars(select(DanglingReference).order_by(DanglingReference.id))).all()
                inbox = (await session.scalars(select(InboxEntry))).all()
        published = users.state.metrics.registry.get_sample_value(
            "events_published_total", {"service": "users", "type": "users.user.deleted.v1"}
        )
    result["rows"] = [[row.item_id, row.field, row.entity_id] for row in rows]
    result["expected_rows"] = [
        [order_id, "users_id", user_id] for order_id, user_id in zip(order_ids, user_ids, strict=True)
    ]
    result["inbox"] = sorted(entry.type for entry in inbox)
    result["published_deleted"] = published
    return result


if __name__ == "__main__":
    outcome = asyncio.run(main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])))
    print(json.dumps(outcome))

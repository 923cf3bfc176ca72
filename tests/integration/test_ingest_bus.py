"""Committed batches on the internal bus, in-process and through a real redis-server; warehouse outages."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio  # type: ignore[import-untyped]
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from api.app import INGEST_CHANNEL, create_app
from api.auth.keys import KeyStore, Scope
from api.bus import RedisBus, listen
from tests import factories as f
from tests.support import ApiServer, WarehouseServer, free_port, start_redis, stop_process
from warehouse.migrate import migrate


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _seed(api: Any, key: str) -> str:
    venue = f.venue()
    event = f.event(venue["venue_id"])
    assert (await api.post("/api/ingest/venue", json=venue, headers={"X-API-Key": key})).status_code == 200
    assert (await api.post("/api/ingest/event", json=event, headers={"X-API-Key": key})).status_code == 200
    return str(event["event_id"])


async def _first_sale_message(subscription: AsyncIterator[bytes]) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(anext(subscription), 10))
        if message["stream"] == "sale":
            return dict(message)


@pytest.mark.anyio
async def test_committed_sales_are_announced_in_process(warehouse: WarehouseServer, keys: dict[str, str]) -> None:
    async with AsyncTestClient(app=create_app(warehouse.settings())) as api:
        event_id = await _seed(api, keys["ingest"])
        subscription = api.app.state.bus.subscribe(INGEST_CHANNEL)
        waiting = asyncio.ensure_future(_first_sale_message(subscription))
        await asyncio.sleep(0.05)
        sales = [f.sale(event_id) for _ in range(3)]
        response = await api.post("/api/ingest/sale", json=sales, headers={"X-API-Key": keys["ingest"]})
        assert response.json()["accepted"] == 3
        assert await waiting == {"stream": "sale", "counts": {event_id: 3}}


@pytest.mark.anyio
async def test_committed_sales_reach_other_processes_through_redis(
    warehouse: WarehouseServer, keys: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    api = ApiServer(warehouse, free_port(), tmp_path / "api.log", {"TICKETTOKEN_REDIS_URL": redis_url}).start()
    redis = Redis.from_url(redis_url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(INGEST_CHANNEL)
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
            event_id = await _seed(http, keys["ingest"])
            sales = [f.sale(event_id) for _ in range(4)]
            response = await http.post("/api/ingest/sale", json=sales, headers={"X-API-Key": keys["ingest"]})
            assert response.json()["accepted"] == 4

            async def messages() -> AsyncIterator[bytes]:
                async for message in pubsub.listen():
                    yield message["data"]

            assert await _first_sale_message(messages()) == {"stream": "sale", "counts": {event_id: 4}}
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await redis.aclose()
        api.stop()


def test_warehouse_stopped_gives_503_and_nothing_is_lost(tmp_path: Path) -> None:
    warehouse = WarehouseServer(tmp_path / "data", free_port(), tmp_path / "warehouse.log").start()
    client = warehouse.client()
    settings = warehouse.settings()
    migrate(client, settings.warehouse)
    key, _ = KeyStore(warehouse.client(database="tickettoken")).create({Scope.INGEST, Scope.READ})
    api = ApiServer(warehouse, free_port(), tmp_path / "api.log").start()
    listener = socketio.Client(reconnection=False)
    try:
        listener.connect(api.url, auth={"key": key}, wait_timeout=10)
        with httpx.Client(base_url=api.url, timeout=60, headers={"X-API-Key": key}) as http:
            venue = f.venue()
            event = f.event(venue["venue_id"])
            assert http.post("/api/ingest/venue", json=venue).status_code == 200
            assert http.post("/api/ingest/event", json=event).status_code == 200
            before = [f.sale(event["event_id"]) for _ in range(5)]
            assert http.post("/api/ingest/sale", json=before).json()["accepted"] == 5

            warehouse.stop()
            during = [f.sale(event["event_id"]) for _ in range(5)]
            refused = http.post("/api/ingest/sale", json=during)
            assert refused.status_code == 503
            assert refused.headers["Retry-After"]
            # Reads that need the warehouse are answered too (an event this worker has not seen is looked up).
            assert http.get("/api/realtime/sales/event-not-seen-yet").status_code == 503
            answer = listener.call("subscribe-event", "event-not-seen-yet", timeout=30)
            assert answer == {
                "ok": False,
                "event_id": "event-not-seen-yet",
                "error": "the warehouse is unavailable; retry later",
            }

            warehouse.start()
            retried = http.post("/api/ingest/sale", json=during)
            assert retried.json()["accepted"] == 5
            ids = [s["sale_id"] for s in before + during]
            count = warehouse.client(database="tickettoken").command(
                "SELECT count() FROM sales FINAL WHERE sale_id IN {ids:Array(String)}", parameters={"ids": ids}
            )
            assert count == 10
    finally:
        listener.disconnect()
        api.stop()
        warehouse.stop()


@pytest.mark.anyio
async def test_a_bus_listener_outlives_a_redis_outage_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The identities' listener ended with the first outage, for good; the live rows' one warned every second,
    and every failed publish warned (thousands a second under load)."""
    port = free_port()

    async def until(condition: Callable[[], bool]) -> None:
        for _ in range(200):
            if condition():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("timed out")

    server = start_redis(port, tmp_path)
    bus = RedisBus(f"redis://127.0.0.1:{port}/0")
    heard: list[bytes] = []
    states: list[bool] = []

    async def handle(message: bytes) -> None:
        heard.append(message)

    caplog.set_level(logging.INFO, logger="tickettoken.bus")
    listening = asyncio.create_task(listen(bus, "test", handle, states.append, "test: hearing"))
    try:
        await until(lambda: states == [True])
        await bus.publish("test", b"one")
        await until(lambda: heard == [b"one"])
        stop_process(server)
        await until(lambda: states[-1] is False)
        for _ in range(5):
            await bus.publish("test", b"lost")
        await asyncio.sleep(2.5)  # a few tries to subscribe again
        server = start_redis(port, tmp_path)
        await until(lambda: states[-1] is True)
        await bus.publish("test", b"two")
        await until(lambda: heard[-1] == b"two")
    finally:
        listening.cancel()
        stop_process(server)
        await bus.close()
    said = [record.getMessage() for record in caplog.records if record.name == "tickettoken.bus"]
    assert sum("test: hearing stopped" in line for line in said) == 1, said
    assert sum("could not publish on test" in line for line in said) == 1, said
    assert "bus: test: hearing again" in said and "bus: publishing on test again" in said

"""The live views' rows in memory, through real servers: a lone API process answers from memory after one read
of the table, and two API processes sharing a real redis-server each count the other's commits."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests import factories as f
from tests.support import ApiServer, WarehouseServer, api_pair

LOADS = "tickettoken_live_loads_total"  # reads of an event's rows from the table, per process


def _tickets(api: ApiServer, key: str, event_id: str, window: int) -> int:
    # Each call asks with its own window: answers are cached (shared through Redis), this must be computed here.
    response = httpx.get(f"{api.url}/api/realtime/sales/{event_id}", params={"window": window},
                         headers={"X-API-Key": key})  # fmt: skip
    assert response.status_code == 200, response.text
    return int(response.json()["tickets"])


def _event(api: ApiServer, key: str) -> str:
    venue = f.venue()
    event = f.event(venue["venue_id"], capacity=100, tiers=[{"name": "GA", "price": "10.00", "capacity": 100}])
    api.ingest(key, "venue", venue)
    api.ingest(key, "event", event)
    return str(event["event_id"])


def _sale(event_id: str, quantity: int, sale_id: str | None = None) -> dict[str, object]:
    return f.sale(
        event_id, tier="GA", quantity=quantity, unit_price="10.00", **({"sale_id": sale_id} if sale_id else {})
    )


def test_a_lone_worker_answers_from_memory_after_one_read(api_server: ApiServer, keys: dict[str, str]) -> None:
    event_id = _event(api_server, keys["ingest"])
    api_server.ingest(keys["ingest"], "sale", _sale(event_id, 2))
    before = api_server.metric(keys["admin"], LOADS)
    assert _tickets(api_server, keys["read"], event_id, 30) == 2
    for quantity in (3, 4):
        api_server.ingest(keys["ingest"], "sale", _sale(event_id, quantity))
    assert _tickets(api_server, keys["read"], event_id, 33) == 9
    assert api_server.metric(keys["admin"], LOADS) == before + 1, "one read of the table, then the commits"


def test_two_workers_count_each_others_commits_once(
    warehouse: WarehouseServer, keys: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    with api_pair(warehouse, redis_url, tmp_path) as (first, second):
        ingest, read = keys["ingest"], keys["read"]
        event_id = _event(first, ingest)
        time.sleep(0.5)  # each process subscribes to the other's rows on start-up
        assert (_tickets(first, read, event_id, 30), _tickets(second, read, event_id, 31)) == (0, 0)
        first.ingest(ingest, "sale", _sale(event_id, 2))
        second.ingest(ingest, "sale", _sale(event_id, 3))
        # The same record sent to both: one stores it, the other finds it stored; counted once either way.
        first.ingest(ingest, "sale", _sale(event_id, 4, sale_id=f"{event_id}-both"))
        second.ingest(ingest, "sale", _sale(event_id, 4, sale_id=f"{event_id}-both"))
        deadline = time.monotonic() + 10
        window = 40
        while time.monotonic() < deadline:
            window += 2
            counts = (_tickets(first, read, event_id, window), _tickets(second, read, event_id, window + 1))
            if counts == (9, 9):
                break
            time.sleep(0.1)
        assert counts == (9, 9)
        assert (first.metric(keys["admin"], LOADS), second.metric(keys["admin"], LOADS)) == (1, 1), (
            "from memory after one read"
        )

"""What ingest reads of the catalog, counted on the real warehouse."""

from __future__ import annotations

import time
from typing import Any

import httpx

from api.ingest.catalog import FRESH_SECONDS, Catalog
from tests import factories as f
from tests.support import WarehouseServer


class CountingClient:
    """A real clickhouse-connect client to the test warehouse that counts the queries made through it."""

    def __init__(self, warehouse: WarehouseServer) -> None:
        self.client = warehouse.client(database="tickettoken")
        self.queries = 0

    def query(self, *args: Any, **kwargs: Any) -> Any:
        self.queries += 1
        return self.client.query(*args, **kwargs)


def _event(http: httpx.Client, key: str) -> str:
    venue = f.venue()
    event = f.event(venue["venue_id"])
    for stream, record in (("venue", venue), ("event", event)):
        assert http.post(f"/api/ingest/{stream}", json=record, headers={"X-API-Key": key}).status_code == 200
    return str(event["event_id"])


def test_an_event_is_read_again_for_doubtful_records_at_most_once_a_second(
    warehouse: WarehouseServer, http: httpx.Client, keys: dict[str, str]
) -> None:
    """Each record its cached event refused (a sale in another currency) read the event again, one read at a time
    for the whole worker: a feed sending every sale in the wrong currency held up all ingest, and the live views'
    threads behind it."""
    event_id = _event(http, keys["ingest"])
    counting = CountingClient(warehouse)
    catalog = Catalog(lambda: counting)  # type: ignore[arg-type,return-value]  # a Client that counts
    assert catalog.events([event_id])[event_id].currencies == frozenset({"EUR"})
    read_once = counting.queries
    for _ in range(50):
        assert event_id in catalog.events([event_id], fresh=True)
    assert counting.queries == read_once, "read again within a second of its last read"
    time.sleep(FRESH_SECONDS + 0.1)
    assert event_id in catalog.events([event_id], fresh=True)
    assert counting.queries == 2 * read_once, "read again once a second has passed"
    assert catalog.events(["no-such-event"], fresh=True) == {}


def test_sales_in_another_currency_are_refused_naming_it(http: httpx.Client, keys: dict[str, str]) -> None:
    event_id = _event(http, keys["ingest"])
    for number in range(20):
        sale = f.sale(event_id, currency="USD", sale_id=f"usd-{event_id}-{number}")
        answer = http.post("/api/ingest/sale", json=sale, headers={"X-API-Key": keys["ingest"]})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "currency"

"""Duplicate checks by Bloom filter (api/ingest/seen.py) against the real warehouse, and across API processes
that share a real redis-server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
from prometheus_client import REGISTRY

from api.ingest.schemas import Sale
from api.ingest.seen import SeenIds
from api.ingest.streams import STREAMS
from api.ingest.writer import StreamWriter
from tests import factories as f
from tests.support import WarehouseServer, api_pair

SALES = STREAMS["sale"]


def _sales(event_id: str, count: int) -> list[Sale]:
    return msgspec.convert([f.sale(event_id) for _ in range(count)], list[Sale], strict=False)


def _lookups() -> float:
    return REGISTRY.get_sample_value("tickettoken_ingest_lookups_total", {"stream": "sale"}) or 0.0


async def _loaded(seen: SeenIds) -> SeenIds:
    seen.start()
    deadline = time.monotonic() + 60
    while not seen.ready:
        assert time.monotonic() < deadline, "the filter did not load"
        await asyncio.sleep(0.05)
    return seen


def _writer(client: Any) -> Callable[[], StreamWriter]:
    def make() -> StreamWriter:
        return StreamWriter(SALES, lambda: client, seen=SeenIds(SALES.table, SALES.id_field, lambda: client))

    return make


def test_new_records_skip_the_lookup_and_copies_are_still_found(warehouse: WarehouseServer) -> None:
    client = warehouse.client(database="tickettoken", autogenerate_session_id=False)
    new_writer = _writer(client)
    event_id = f.new_id("event")
    records = _sales(event_id, 500)
    more = _sales(event_id, 50)

    async def scenario() -> None:
        writer = new_writer()
        assert writer.seen is not None
        await _loaded(writer.seen)
        before = _lookups()
        assert await writer.submit(records) == [True] * 500
        assert _lookups() == before, "records the filter never saw are not looked up"
        assert await writer.submit(records[:100] + more) == [False] * 100 + [True] * 50
        asked = _lookups() - before
        assert 100 <= asked <= 105, f"the 100 copies (and at most a few false positives) were looked up: {asked}"
        # A restarted worker loads its filter from the table: copies sent to it are still duplicates.
        restarted = new_writer()
        assert restarted.seen is not None
        await _loaded(restarted.seen)
        assert await restarted.submit(records[400:] + more[:10]) == [False] * 110

    asyncio.run(scenario())
    stored = client.query("SELECT count(), uniqExact(sale_id) FROM sales WHERE event_id = {e:String}", {"e": event_id})
    assert stored.result_rows == [(550, 550)], "no copy was written at all"


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_copy_sent_to_another_process_counts_as_duplicate_through_redis(
    warehouse: WarehouseServer, keys: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    headers = {"X-API-Key": keys["ingest"]}
    with api_pair(warehouse, redis_url, tmp_path) as (first, second):
        venue = f.venue()
        event = f.event(venue["venue_id"])
        assert httpx.post(first.url + "/api/ingest/venue", json=venue, headers=headers).status_code == 200
        assert httpx.post(first.url + "/api/ingest/event", json=event, headers=headers).status_code == 200
        # The second process's filter is loaded before the sale exists: only the bus can tell it about the sale.
        _wait_for(lambda: "identities of sales loaded" in (tmp_path / "second.log").read_text(), "the filter")
        sale = f.sale(event["event_id"])
        answer = httpx.post(first.url + "/api/ingest/sale", json=sale, headers=headers).json()
        assert answer["accepted"] == 1
        heard = "tickettoken_ingest_identities_heard_total"
        _wait_for(lambda: second.metric(keys["admin"], heard) >= 1, "the second process to hear the commit")
        answer = httpx.post(second.url + "/api/ingest/sale", json=sale, headers=headers).json()
        assert (answer["accepted"], answer["duplicates"]) == (0, 1)


def test_a_worker_that_stops_hearing_the_others_distrusts_its_filter_then_reloads_it(
    warehouse: WarehouseServer,
) -> None:
    """While the bus is down, another worker's commits never reach this worker's filter: a copy of one of them
    would pass as new (written again, answered as accepted). So every identity is asked about until the
    subscription is back and the table's identities are loaded again."""
    client = warehouse.client(database="tickettoken", autogenerate_session_id=False)
    event_id = f.new_id("event")
    elsewhere = _sales(event_id, 20)  # committed by another worker while this one heard nothing

    async def scenario() -> None:
        writer = _writer(client)()
        assert writer.seen is not None
        seen = await _loaded(writer.seen)
        seen.hearing(False)
        other = _writer(client)()
        assert await other.submit(elsewhere) == [True] * 20  # its own filter; this one never hears of them
        before = _lookups()
        assert await writer.submit(elsewhere[:5]) == [False] * 5, "copies: found by asking the warehouse"
        assert _lookups() - before == 5
        seen.hearing(True)  # loads the table's identities again: `_loaded` waits for that (forever, were it not)
        await _loaded(seen)
        before = _lookups()
        assert await writer.submit(elsewhere[5:10]) == [False] * 5
        assert _lookups() - before == 5, "the reloaded filter knows them: each is asked about, none passes as new"

    asyncio.run(scenario())
    stored = client.query("SELECT count() FROM sales WHERE event_id = {e:String}", {"e": event_id})
    assert stored.result_rows == [(20,)]

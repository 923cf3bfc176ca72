"""When the writer writes a batch beside one in flight, or holds it back (api/ingest/writer.py, `_small_waits`),
against the real warehouse: small batches wait for a small INSERT in flight, large ones do not, and nothing
waits for a large one; then a small batch waits for the senders the last one answered, never for a lone
sender, and not past the gather limit. The client is the real one, watched: in the first tests the first
INSERT is held (up to a deadline) until a second begins, so whether the second began beside it is certain,
not a matter of timing."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, cast

from clickhouse_connect.driver.client import Client

from api.ingest.schemas import Sale
from api.ingest.streams import STREAMS
from api.ingest.writer import StreamWriter
from tests import factories as f
from tests.support import WarehouseServer

HELD_SECONDS = 2.0  # how long the first INSERT waits for a second one to begin beside it


class WatchedClient:
    """The real client; its INSERTs are counted, and the first is held until a second begins (or a deadline)."""

    def __init__(self, client: Any, *, hold_first: bool = True) -> None:
        self.client = client
        self.hold_first = hold_first
        self.in_flight = 0
        self.most_at_once = 0
        self.started = 0
        self.began = threading.Event()  # set when the first INSERT begins
        self._second = threading.Event()
        self._lock = threading.Lock()

    def insert_arrow(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.started += 1
            first = self.started == 1
            self.in_flight += 1
            self.most_at_once = max(self.most_at_once, self.in_flight)
            if not first:
                self._second.set()
        self.began.set()
        try:
            if first and self.hold_first:
                self._second.wait(HELD_SECONDS)
            return self.client.insert_arrow(*args, **kwargs)
        finally:
            with self._lock:
                self.in_flight -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def _watched(
    warehouse: WarehouseServer, *, hold_first: bool = True, gather_seconds: float = StreamWriter.gather_seconds
) -> tuple[WatchedClient, StreamWriter]:
    """A writer of sales on the real client, watched."""
    watched = WatchedClient(
        warehouse.client(database="tickettoken", autogenerate_session_id=False), hold_first=hold_first
    )
    return watched, StreamWriter(STREAMS["sale"], lambda: cast("Client", watched), gather_seconds=gather_seconds)


async def _two(
    warehouse: WarehouseServer, first: int | list[Sale], second: int | list[Sale]
) -> tuple[WatchedClient, list[list[bool]]]:
    """Submit `first` records (or that many), then, once their INSERT has begun, `second`; both answers."""
    watched, writer = _watched(warehouse)
    earlier = asyncio.create_task(writer.submit(first if isinstance(first, list) else f.sale_records(first)))
    assert await asyncio.to_thread(watched.began.wait, 30)
    later = asyncio.create_task(writer.submit(second if isinstance(second, list) else f.sale_records(second)))
    return watched, list(await asyncio.gather(earlier, later))


def test_a_small_batch_waits_for_the_small_insert_in_flight(warehouse: WarehouseServer) -> None:
    watched, answers = asyncio.run(_two(warehouse, 1, 5))
    assert watched.most_at_once == 1  # the second began only after the first had committed
    assert watched.started == 2
    assert [sum(flags) for flags in answers] == [1, 5]


def test_large_batches_are_written_beside_others(warehouse: WarehouseServer) -> None:
    for first, second in ((1_000, 1_000), (1, 1_000)):
        watched, answers = asyncio.run(_two(warehouse, first, second))
        assert watched.most_at_once == 2, (first, second)
        assert [sum(flags) for flags in answers] == [first, second]


def test_a_small_batch_does_not_wait_for_a_large_insert(warehouse: WarehouseServer) -> None:
    watched, answers = asyncio.run(_two(warehouse, 2_000, 1))
    assert watched.most_at_once == 2
    assert [sum(flags) for flags in answers] == [2_000, 1]


def test_copies_of_records_in_flight_beside_are_duplicates_and_stored_once(warehouse: WarehouseServer) -> None:
    first = f.sale_records(1_000)
    retried = first[100:110]
    second = [*f.sale_records(495), *retried, *f.sale_records(495)]
    watched, answers = asyncio.run(_two(warehouse, first, second))
    assert watched.most_at_once == 2  # the second batch was checked while the first was still being written
    assert sum(answers[0]) == 1_000
    assert [position for position, new in enumerate(answers[1]) if not new] == list(range(495, 505))
    client = warehouse.client(database="tickettoken")
    ids = [sale.sale_id for sale in first + second]
    stored = client.query("SELECT count() FROM sales WHERE sale_id IN {ids:Array(String)}", parameters={"ids": ids})
    assert stored.result_rows[0][0] == 1_990  # no copy written, not even one the readers would fold away


async def _each_answered(writer: StreamWriter, senders: int, apart: float) -> None:
    """`senders` single sales sent `apart` seconds after one another; each must be answered as new."""
    answers = []
    for sale in f.sale_records(senders):
        answers.append(asyncio.create_task(writer.submit([sale])))
        await asyncio.sleep(apart)
    assert await asyncio.wait_for(asyncio.gather(*answers), 30) == [[True]] * senders


def test_senders_answered_together_come_back_into_one_insert(warehouse: WarehouseServer) -> None:
    """Six senders answered by one INSERT send again 20 ms apart: all six wait for the last one (the gather
    limit is far off here), so the second round is one INSERT too, not the first sender back on its own."""
    watched, writer = _watched(warehouse, hold_first=False, gather_seconds=60)

    async def rounds() -> None:
        await _each_answered(writer, 6, apart=0)
        assert watched.started == 1
        await _each_answered(writer, 6, apart=0.02)

    asyncio.run(rounds())
    assert watched.started == 2


def test_senders_split_over_two_batches_come_back_into_one(warehouse: WarehouseServer) -> None:
    """Four senders are in an INSERT (held) while four more queue behind it. Once it commits, the four behind
    wait for the first four to send again, and all eight go in one INSERT: the two groups merge for good."""

    async def merge() -> WatchedClient:
        watched, writer = _watched(warehouse, gather_seconds=60)  # the first INSERT held while four queue
        first = [asyncio.create_task(writer.submit([sale])) for sale in f.sale_records(4)]
        assert await asyncio.to_thread(watched.began.wait, 30)
        behind = [asyncio.create_task(writer.submit([sale])) for sale in f.sale_records(4)]
        assert await asyncio.gather(*first) == [[True]] * 4
        again = [asyncio.create_task(writer.submit([sale])) for sale in f.sale_records(4)]
        assert await asyncio.wait_for(asyncio.gather(*behind, *again), 30) == [[True]] * 8
        return watched

    watched = asyncio.run(merge())
    assert watched.started == 2


def test_a_lone_sender_never_waits_for_company(warehouse: WarehouseServer) -> None:
    """One request per batch: the next has all the company the last one had, so it is written at once (with a
    gather limit of a minute, any wait would outlast the test's 30 s)."""
    watched, writer = _watched(warehouse, hold_first=False, gather_seconds=60)

    async def one_at_a_time() -> None:
        for _ in range(3):
            await _each_answered(writer, 1, apart=0)

    asyncio.run(one_at_a_time())
    assert watched.started == 3


def test_a_small_batch_waits_no_longer_than_the_gather_limit(warehouse: WarehouseServer) -> None:
    """Four senders answered together, and only one comes back: it is written alone once the limit passes."""
    watched, writer = _watched(warehouse, hold_first=False, gather_seconds=0.2)

    async def fewer_come_back() -> None:
        await _each_answered(writer, 4, apart=0)
        await _each_answered(writer, 1, apart=0)

    asyncio.run(fewer_come_back())
    assert watched.started == 2

"""Small INSERTs under a steady flow go through an INSERT sent ahead of their rows (api/early_insert.py), against
the real warehouse: every row is written once, one not used in time writes nothing, and one that failed before
its rows were sent leaves them to an INSERT of their own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import pyarrow as pa
import pytest
from prometheus_client import REGISTRY

from api import early_insert
from api.ingest.schemas import Attendance, Revenue, Sale
from api.ingest.streams import STREAMS
from api.ingest.writer import INSERT_SETTINGS, StreamWriter
from api.warehouse_handle import WarehouseHandle
from tests import factories as f
from tests.support import WarehouseServer, free_port
from warehouse.migrate import migrate

OUTCOMES = ("used", "ended", "failed")


def _outcomes() -> dict[str, float]:
    return {
        outcome: REGISTRY.get_sample_value("tickettoken_ingest_early_inserts_total", {"outcome": outcome}) or 0.0
        for outcome in OUTCOMES
    }


def _batches(count: int, rows: int) -> list[pa.Table]:
    return [STREAMS["sale"].table_of(f.sale_records(rows)) for _ in range(count)]


def _stored(warehouse: WarehouseServer, batches: list[pa.Table]) -> tuple[int, int]:
    ids = [sale_id for batch in batches for sale_id in batch.column("sale_id").to_pylist()]
    result = warehouse.client(database="tickettoken").query(
        "SELECT count(), uniqExact(sale_id) FROM sales WHERE sale_id IN {ids:Array(String)}", parameters={"ids": ids}
    )
    count, unique = result.result_rows[0]
    return int(count), int(unique)


def _with_handle(warehouse: WarehouseServer, steps: Callable[[WarehouseHandle], Awaitable[None]]) -> dict[str, float]:
    """Run `steps` with a fresh handle, closed after; what became of the INSERTs sent ahead meanwhile."""
    before = _outcomes()

    async def run() -> None:
        handle = WarehouseHandle(warehouse.settings().warehouse)
        try:
            await steps(handle)
        finally:
            await handle.aclose()

    asyncio.run(run())
    return {outcome: count - before[outcome] for outcome, count in _outcomes().items()}


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """A longer idle time than the service's, so that a slow machine does not make a steady flow look idle."""
    monkeypatch.setattr(early_insert, "IDLE_SECONDS", 2.0)


@pytest.mark.usefixtures("patient")
def test_steady_small_inserts_go_through_inserts_sent_ahead(warehouse: WarehouseServer) -> None:
    batches = _batches(5, 4)

    async def steps(handle: WarehouseHandle) -> None:
        for batch in batches:
            await handle.insert_small("sales", batch, INSERT_SETTINGS)

    # The first two go on their own (the flow is steady from the second commit on); each later one through the
    # INSERT sent ahead after the one before; the last one sent ahead is ended, unused, by aclose.
    assert _with_handle(warehouse, steps) == {"used": 3, "ended": 1, "failed": 0}
    assert _stored(warehouse, batches) == (20, 20)


@pytest.mark.usefixtures("patient")
def test_small_batches_with_and_without_buyers_fit_the_insert_sent_ahead(warehouse: WarehouseServer) -> None:
    """Sales without buyers make tables without the buyer's columns (streams.py); the writer's small INSERTs
    still send every column, so a flow of sales with and without buyers keeps using the INSERTs sent ahead."""
    event_id = f.new_id("event")
    sales = [f.sale(event_id, **({} if n % 2 else {"buyer": None})) for n in range(5)]
    records = msgspec.convert(sales, list[Sale], strict=False)

    async def steps(handle: WarehouseHandle) -> None:
        writer = StreamWriter(STREAMS["sale"], handle.client, insert_small=handle.insert_small)
        for record in records:
            assert await writer.submit([record]) == [True]

    assert _with_handle(warehouse, steps) == {"used": 3, "ended": 1, "failed": 0}
    stored = warehouse.client(database="tickettoken").query(
        "SELECT sale_id, buyer_country FROM sales WHERE event_id = {e:String}", parameters={"e": event_id}
    )
    assert {str(row[0]): row[1] for row in stored.result_rows} == {
        sale["sale_id"]: "DE" if n % 2 else "" for n, sale in enumerate(sales)
    }


@pytest.mark.usefixtures("patient")
def test_an_insert_sent_ahead_and_not_used_in_time_writes_nothing(warehouse: WarehouseServer) -> None:
    batches = _batches(3, 4)

    async def steps(handle: WarehouseHandle) -> None:
        for batch in batches[:2]:
            await handle.insert_small("sales", batch, INSERT_SETTINGS)
        await asyncio.sleep(early_insert.IDLE_SECONDS * 1.5)  # the one sent ahead ends, with no rows
        await handle.insert_small("sales", batches[2], INSERT_SETTINGS)  # the flow was not steady: on its own

    assert _with_handle(warehouse, steps) == {"used": 0, "ended": 1, "failed": 0}
    assert _stored(warehouse, batches) == (12, 12)


@pytest.mark.usefixtures("patient")
def test_a_worker_sends_at_most_two_ahead_at_once(warehouse: WarehouseServer) -> None:
    event_id = f.new_id("event")
    tables: dict[str, Callable[[], pa.Table]] = {
        "sales": lambda: STREAMS["sale"].table_of(f.sale_records(2)),
        "scans": lambda: STREAMS["attendance"].table_of(
            msgspec.convert([f.scan(event_id) for _ in range(2)], list[Attendance], strict=False)
        ),
        "revenue": lambda: STREAMS["revenue"].table_of(
            msgspec.convert([f.revenue(event_id) for _ in range(2)], list[Revenue], strict=False)
        ),
    }

    async def steps(handle: WarehouseHandle) -> None:
        for _ in range(2):  # steady in all three tables
            for table, rows in tables.items():
                await handle.insert_small(table, rows(), INSERT_SETTINGS)

    # Sent ahead after the second round's first two; none for the third table, so only two to end at the close.
    assert _with_handle(warehouse, steps) == {"used": 0, "ended": early_insert.MOST_WAITING, "failed": 0}


def test_rows_get_an_insert_of_their_own_when_the_one_sent_ahead_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(early_insert, "IDLE_SECONDS", 60.0)  # so the one sent ahead is still waiting when it fails
    warehouse = WarehouseServer(tmp_path / "data", free_port(), tmp_path / "warehouse.log").start()
    try:
        migrate(warehouse.client(), warehouse.settings().warehouse)
        batches = _batches(3, 4)

        async def steps(handle: WarehouseHandle) -> None:
            for batch in batches[:2]:
                await handle.insert_small("sales", batch, INSERT_SETTINGS)
            assert warehouse.process is not None
            warehouse.process.kill()  # the INSERT sent ahead loses its connection before its rows are sent
            await asyncio.to_thread(warehouse.process.wait)
            await asyncio.to_thread(warehouse.start)
            await handle.insert_small("sales", batches[2], INSERT_SETTINGS)

        assert _with_handle(warehouse, steps) == {"used": 0, "ended": 1, "failed": 1}
        assert _stored(warehouse, batches) == (12, 12)
    finally:
        warehouse.stop()

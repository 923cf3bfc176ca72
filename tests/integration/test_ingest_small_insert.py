"""Small batches are inserted on the event loop through the writer's `insert_small` (api/ingest/writer.py,
`_write_small`; the API's is `WarehouseHandle.insert_small`, an asyncio client), large ones by the blocking
client in a thread: against the real warehouse, with duplicates marked the same way on both paths."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from api.ingest.streams import STREAMS
from api.ingest.writer import StreamWriter
from api.warehouse_handle import WarehouseHandle
from tests import factories as f
from tests.integration.test_ingest_overlap import WatchedClient
from tests.support import WarehouseServer


def test_small_batches_are_inserted_on_the_loop_and_large_ones_in_a_thread(warehouse: WarehouseServer) -> None:
    small, large = f.sale_records(5), f.sale_records(1_000)
    again = [*small[:2], *f.sale_records(3)]
    threaded = WatchedClient(warehouse.client(database="tickettoken", autogenerate_session_id=False), hold_first=False)
    on_loop: list[int] = []

    async def run() -> list[list[bool]]:
        handle = WarehouseHandle(warehouse.settings().warehouse)

        async def insert_small(table: str, rows: pa.Table, settings: dict[str, Any]) -> None:
            on_loop.append(rows.num_rows)
            await handle.insert_small(table, rows, settings)

        writer = StreamWriter(STREAMS["sale"], lambda: cast("Client", threaded), insert_small=insert_small)
        try:
            return [await writer.submit(records) for records in (small, again, large)]
        finally:
            await handle.aclose()

    answers = asyncio.run(run())
    assert answers[0] == [True] * 5
    assert answers[1] == [False, False, True, True, True]  # the two already stored, found on the loop's path too
    assert answers[2] == [True] * 1_000
    assert on_loop == [5, 3]  # the new rows of each small batch, nothing else
    assert threaded.started == 1  # the large batch
    ids = [sale.sale_id for sale in small + again + large]
    stored = warehouse.client(database="tickettoken").query(
        "SELECT count(), uniqExact(sale_id) FROM sales WHERE sale_id IN {ids:Array(String)}", parameters={"ids": ids}
    )
    assert stored.result_rows[0] == (1_008, 1_008)

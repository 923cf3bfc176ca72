"""Sales without a buyer leave the buyer's columns to the warehouse's defaults (api/ingest/streams.py); a batch
that joins them with sales that have buyers writes those defaults out itself. Against the real warehouse."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import msgspec
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from api.ingest.columnar import clean_facts
from api.ingest.rules import TimeWindow
from api.ingest.schemas import Sale
from api.ingest.streams import STREAMS
from api.ingest.writer import CommittedBatch, StreamWriter
from tests import factories as f
from tests.support import WarehouseServer

WINDOW = TimeWindow(timedelta(days=10), timedelta(hours=1), timedelta(days=100))


def test_one_batch_of_sales_with_and_without_buyers_stores_each_as_sent(warehouse: WarehouseServer) -> None:
    event = f.new_id("event")
    with_buyers = msgspec.convert([f.sale(event), f.sale(event)], list[Sale], strict=False)
    without = msgspec.convert([f.sale(event, buyer=None), f.sale(event, buyer=None)], list[Sale], strict=False)
    body = pa.Table.from_pylist([{**f.sale(event), "buyer": None} for _ in range(3)]).drop_columns(["buyer"])
    table = clean_facts("sale", body.set_column(3, "purchased_at", pa.array([datetime.now(UTC)] * 3)), WINDOW,
                        datetime.now(UTC))  # fmt: skip
    assert table is not None
    for buyerless in (table, STREAMS["sale"].table_of(without)):
        assert "buyer_country" not in buyerless.column_names
    committed: list[CommittedBatch] = []

    async def commit(batch: CommittedBatch) -> None:
        committed.append(batch)

    writer = StreamWriter(STREAMS["sale"], lambda: warehouse.client(database="tickettoken"), on_commit=commit)

    async def together() -> list[list[bool]]:  # queued in one turn of the loop: one batch, one INSERT
        answers = await asyncio.gather(writer.submit(with_buyers), writer.submit(without), writer.submit_table(table))
        return list(answers)

    assert asyncio.run(together()) == [[True, True], [True, True], [True, True, True]]
    assert [batch.rows.num_rows for batch in committed if batch.rows is not None] == [7]
    client: Client = warehouse.client(database="tickettoken")
    stored = client.query(
        "SELECT sale_id, buyer_country, buyer_gender, buyer_birth_year, buyer_lat FROM sales"
        " WHERE event_id = {e:String}",
        parameters={"e": event},
    ).result_rows
    expected = {sale.sale_id: ("DE", "female", 1990, None) for sale in with_buyers}
    defaults = ("", "", None, None)
    expected |= dict.fromkeys([sale.sale_id for sale in without] + table.column("sale_id").to_pylist(), defaults)
    assert {row[0]: tuple(row[1:]) for row in stored} == expected

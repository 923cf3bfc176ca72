"""An INSERT whose table write fails is answered as failed, never as done (warehouse/unraised_failures.py).

chDB's streaming INSERT does not raise what fails in the table's own write; these are two of the failures measured
(a violated CHECK constraint and too many parts; a full disk, the third, needs a small filesystem of its own), each
made on purpose, through unmodified clickhouse-connect."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import numpy as np
import pyarrow as pa
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from tests import factories as f
from tests.support import ApiServer, WarehouseServer


def _rows(first: int, count: int) -> pa.Table:
    return pa.table({"id": pa.array(np.arange(first, first + count, dtype=np.uint32)), "name": ["x"] * count})


@pytest.fixture
def name(client: Client) -> Iterator[str]:
    table = f"w_{uuid.uuid4().hex[:12]}"
    yield table
    client.command(f"DROP TABLE IF EXISTS {table}")


@pytest.mark.parametrize("insert", ["arrow", "native"])
def test_a_violated_constraint_fails_the_insert(client: Client, name: str, insert: str) -> None:
    client.command(
        f"CREATE TABLE {name} (id UInt32, name String, CONSTRAINT small CHECK id < 500) ENGINE = MergeTree ORDER BY id"
    )
    with pytest.raises(DatabaseError) as raised:
        if insert == "arrow":
            client.insert_arrow(name, _rows(0, 1000))
        else:
            client.insert(name, [[n, "x"] for n in range(1000)], column_names=["id", "name"])
    assert "Code: 469" in str(raised.value)
    assert "Constraint `small`" in str(raised.value)
    assert client.command(f"SELECT count() FROM {name}") == 0
    client.insert_arrow(name, _rows(0, 10))  # a write that passes is answered as done, after the failure as before
    assert client.command(f"SELECT count() FROM {name}") == 10


def test_too_many_parts_fails_the_insert(client: Client, name: str) -> None:
    client.command(
        f"CREATE TABLE {name} (id UInt32, name String) ENGINE = MergeTree ORDER BY id"
        " SETTINGS parts_to_delay_insert = 1, parts_to_throw_insert = 2"
    )
    client.command(f"SYSTEM STOP MERGES {name}")
    client.insert_arrow(name, _rows(0, 100))
    client.insert_arrow(name, _rows(100, 100))
    with pytest.raises(DatabaseError) as raised:
        client.insert_arrow(name, _rows(200, 100))
    assert "Code: 252" in str(raised.value)
    assert client.command(f"SELECT count() FROM {name}") == 200


def test_ingest_does_not_acknowledge_sales_whose_write_failed(
    api_server: ApiServer, http: httpx.Client, keys: dict[str, str], warehouse: WarehouseServer
) -> None:
    headers = {"X-API-Key": keys["ingest"]}
    venue = f.venue()
    event = f.event(venue["venue_id"])
    for stream, record in (("venue", venue), ("event", event)):
        api_server.ingest(keys["ingest"], stream, record)
    single = f.sale(event["event_id"], quantity=200)
    batch = [f.sale(event["event_id"], quantity=200) for _ in range(150)]
    tt = warehouse.client(database="tickettoken")
    tt.command("ALTER TABLE sales ADD CONSTRAINT at_most_100 CHECK quantity <= 100")
    try:
        # Valid for the API (quantity up to 1,000), refused by the table: the small INSERT and the large one.
        for body in (single, batch):
            answer = http.post("/api/ingest/sale", json=body, headers=headers)
            assert answer.status_code == 503, answer.text
    finally:
        tt.command("ALTER TABLE sales DROP CONSTRAINT at_most_100")
    ids = [single["sale_id"]] + [sale["sale_id"] for sale in batch]
    stored = "SELECT count() FROM sales WHERE sale_id IN {ids:Array(String)}"
    assert tt.command(stored, parameters={"ids": ids}) == 0
    for body, count in ((single, 1), (batch, 150)):  # retried once the cause is gone: stored, once
        answer = http.post("/api/ingest/sale", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == count
    assert tt.command(stored, parameters={"ids": ids}) == 151

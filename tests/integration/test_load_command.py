"""`tickettoken load` as an operator runs it, against the real API and warehouse: files of each format committed
once, a body too large for the API split until it fits, and a refused body that stops the load naming its lines,
with what went before committed and nothing of it written."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from api.ingest.schemas import Sale
from api.ingest.streams import STREAMS
from tests import factories as f
from tests.support import ApiServer, WarehouseServer, cli_env, free_port, tickettoken


@pytest.fixture(scope="module")
def event_id(api_server: ApiServer, keys: dict[str, str]) -> str:
    venue = f.venue()
    event = f.event(venue["venue_id"])
    api_server.ingest(keys["ingest"], "venue", venue)
    api_server.ingest(keys["ingest"], "event", event)
    return str(event["event_id"])


@pytest.fixture(scope="module")
def small_api(warehouse: WarehouseServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """An API whose queue takes 300 records at once, and bodies of 120,000 bytes: beyond either, 413 (a JSON sale
    takes ~340 bytes, an Arrow one ~170)."""
    limits = {"TICKETTOKEN_INGEST_MAX_PENDING_RECORDS": "300", "TICKETTOKEN_MAX_BODY_BYTES": "120000"}
    server = ApiServer(warehouse, free_port(), tmp_path_factory.mktemp("small") / "api.log", limits).start()
    yield server
    server.stop()


def _load(api: ApiServer, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = tickettoken("load", *args, "--url", api.url)
    return subprocess.run(command, env=cli_env({"TICKETTOKEN_API_KEY": key}), capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


def _sales(event_id: str, count: int) -> list[dict[str, Any]]:
    return [f.sale(event_id) for _ in range(count)]


def _table(sales: list[dict[str, Any]]) -> pa.Table:
    return STREAMS["sale"].table_of(msgspec.convert(sales, list[Sale], strict=False))


def _stored(warehouse: WarehouseServer, sales: list[dict[str, Any]]) -> int:
    """How many of `sales` are stored, asked 200 ids at a time (parameters go in the URL)."""
    client = warehouse.client(database="tickettoken")
    ids = [sale["sale_id"] for sale in sales]
    query = "SELECT count() FROM sales WHERE sale_id IN {ids:Array(String)}"
    counts = [client.command(query, {"ids": ids[i : i + 200]}) for i in range(0, len(ids), 200)]
    return sum(int(str(count)) for count in counts)


def _ndjson(path: Path, sales: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(sale) + "\n" for sale in sales))
    return path


def test_every_format_is_committed_once_and_a_second_load_adds_nothing(
    api_server: ApiServer, warehouse: WarehouseServer, keys: dict[str, str], event_id: str, tmp_path: Path
) -> None:
    parquet, arrow, ndjson, array = (_sales(event_id, n) for n in (2_500, 700, 300, 40))
    pq.write_table(_table(parquet), tmp_path / "sales.parquet", row_group_size=900)
    with pa.ipc.new_file(tmp_path / "sales.feather", _table(arrow).schema) as writer:
        writer.write_table(_table(arrow), max_chunksize=256)
    _ndjson(tmp_path / "sales.jsonl", ndjson)
    (tmp_path / "sales.json").write_text(json.dumps(array))
    files = [str(tmp_path / name) for name in ("sales.parquet", "sales.feather", "sales.jsonl", "sales.json")]

    first = _load(api_server, keys["ingest"], "sale", *files, "--rows", "1000")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "sales.parquet: 2,500 records in 3 requests: 2,500 accepted, 0 duplicates, 0 rejected",
        "sales.feather: 700 records in 1 request: 700 accepted, 0 duplicates, 0 rejected",
        "sales.jsonl: 300 records in 1 request: 300 accepted, 0 duplicates, 0 rejected",
        "sales.json: 40 records in 1 request: 40 accepted, 0 duplicates, 0 rejected",
    ]
    everything = parquet + arrow + ndjson + array
    assert _stored(warehouse, everything) == len(everything)
    again = _load(api_server, keys["ingest"], "sale", *files)
    assert again.returncode == 0, again.stderr
    assert "sales.parquet: 2,500 records in 1 request: 0 accepted, 2,500 duplicates" in again.stdout
    assert _stored(warehouse, everything) == len(everything)


def test_a_body_too_large_for_the_api_is_split_until_it_fits(
    small_api: ApiServer, warehouse: WarehouseServer, keys: dict[str, str], event_id: str, tmp_path: Path
) -> None:
    sales = _sales(event_id, 1_000)
    pq.write_table(_table(sales), tmp_path / "sales.parquet")
    loaded = _load(small_api, keys["ingest"], "sale", str(tmp_path / "sales.parquet"), "--rows", "1000")
    assert loaded.returncode == 0, loaded.stderr
    # 1,000 too large a body, 500 too many records: four bodies of 250 taken.
    assert "1,000 records in 4 requests: 1,000 accepted" in loaded.stdout
    assert _stored(warehouse, sales) == 1_000


def test_a_refusal_within_a_split_body_names_its_own_lines_and_counts_the_parts_before(
    small_api: ApiServer, warehouse: WarehouseServer, keys: dict[str, str], event_id: str, tmp_path: Path
) -> None:
    sales = _sales(event_id, 1_000)
    sales[899]["currency"] = "EURO"
    path = _ndjson(tmp_path / "sales.ndjson", sales)
    stopped = _load(small_api, keys["ingest"], "sale", str(path), "--rows", "1000")
    assert stopped.returncode == 1
    # Bodies of 1,000 and 500 too large (413 comes before the records are checked); 250, 250, 250 taken, and the
    # last 250 refused for its record.
    assert stopped.stdout.splitlines() == [
        "sales.ndjson: 750 records in 3 requests: 750 accepted, 0 duplicates, 0 rejected",
        "  sales.ndjson line 900: currency: Expected `str` of length <= 3",
    ]
    assert "Error: sales.ndjson line 751 to 1,000 refused, nothing of them written: 422" in stopped.stderr
    assert (_stored(warehouse, sales[:750]), _stored(warehouse, sales[750:])) == (750, 0)


def test_a_refused_body_stops_the_load_naming_its_lines_and_writes_none_of_it(
    api_server: ApiServer, warehouse: WarehouseServer, keys: dict[str, str], event_id: str, tmp_path: Path
) -> None:
    sales = _sales(event_id, 30)
    sales[14]["quantity"] = 0
    path = _ndjson(tmp_path / "sales.ndjson", sales)
    path.write_text("\n" + path.read_text())  # a blank first line: the lines named are the file's own

    stopped = _load(api_server, keys["ingest"], "sale", str(path), "--rows", "10", "--concurrency", "1")
    assert stopped.returncode == 1
    assert stopped.stdout.splitlines() == [
        "sales.ndjson: 10 records in 1 request: 10 accepted, 0 duplicates, 0 rejected",
        "  sales.ndjson line 16: quantity: Expected `int` >= 1",
    ]
    assert "Error: sales.ndjson line 12 to 21 refused, nothing of them written: 422" in stopped.stderr
    assert "loading the file again is safe" in stopped.stderr
    assert _stored(warehouse, sales[:10]) == 10
    assert _stored(warehouse, sales[10:]) == 0

    partial = _load(api_server, keys["ingest"], "sale", str(path), "--rows", "10", "--partial")
    assert partial.returncode == 0, partial.stderr
    lines = partial.stdout.splitlines()
    assert lines[:2] == [
        "sales.ndjson: 30 records in 3 requests: 19 accepted, 10 duplicates, 1 rejected",
        "  sales.ndjson line 16: quantity: Expected `int` >= 1",
    ]
    quarantine_id = lines[2].split()[2]
    assert lines[2] == f"  quarantined under {quarantine_id} (POST /api/ingest/quarantine/{quarantine_id}/replay)"
    quarantined = warehouse.client(database="tickettoken").query(
        "SELECT record_index, JSONExtractString(record, 'sale_id') FROM ingest_quarantine"
        " WHERE request_id = {id:String}",
        parameters={"id": quarantine_id},
    )
    assert quarantined.result_rows == [(4, sales[14]["sale_id"])]  # its index in the request that sent it
    assert _stored(warehouse, sales) == 29


def test_a_key_the_api_refuses_stops_before_anything_is_written(
    api_server: ApiServer, warehouse: WarehouseServer, keys: dict[str, str], event_id: str, tmp_path: Path
) -> None:
    sales = _sales(event_id, 5)
    path = _ndjson(tmp_path / "sales.ndjson", sales)
    for key, status in (("tt_unknown_key", "401"), (keys["read"], "403")):
        refused = _load(api_server, key, "sale", str(path))
        assert refused.returncode == 1
        assert refused.stdout == ""
        assert f"Error: sales.ndjson line 1 to 5 refused, nothing of them written: {status}" in refused.stderr
    assert _stored(warehouse, sales) == 0

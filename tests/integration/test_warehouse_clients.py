"""The embedded warehouse server driven by unmodified clickhouse-connect over HTTP."""

from __future__ import annotations

import gzip
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from base64 import b64encode
from collections.abc import Iterator
from decimal import Decimal

import lz4.frame
import numpy as np
import pyarrow as pa
import pytest
import zstandard
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.native_compression import ZstdCompressor, driver_reads, driver_writes
from tests.support import RW_PASSWORD, WarehouseServer


@pytest.fixture
def table(client: Client) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    client.command(f"CREATE TABLE {name} (id UInt32, name String, price Decimal(12, 2)) ENGINE = MergeTree ORDER BY id")
    yield name
    client.command(f"DROP TABLE IF EXISTS {name}")


def test_command_and_server_facts(client: Client) -> None:
    assert client.command("SELECT 41 + 1") == 42
    assert str(client.server_version).startswith("26.")
    assert client.command("SELECT timezone()") in ("UTC", "Etc/UTC")


def test_query_with_typed_parameters(client: Client) -> None:
    result = client.query(
        "SELECT {x:UInt32} * 2 AS doubled, {s:String} AS echoed", parameters={"x": 21, "s": "it's \\ ok"}
    )
    assert result.result_rows == [(42, "it's \\ ok")]


def test_insert_then_query_arrow_and_df(client: Client, table: str) -> None:
    client.insert(table, [[1, "a", Decimal("9.99")], [2, "b", Decimal("0.01")]], column_names=["id", "name", "price"])
    arrow = client.query_arrow(f"SELECT id, name FROM {table} ORDER BY id")
    assert arrow.column("name").to_pylist() == ["a", "b"]
    frame = client.query_df(f"SELECT id, price FROM {table} ORDER BY id")
    assert list(frame["id"]) == [1, 2]
    assert list(frame["price"]) == [Decimal("9.99"), Decimal("0.01")]


@pytest.mark.parametrize("compress", [False, True])
def test_million_row_insert_arrow_reads_back(warehouse: WarehouseServer, compress: bool) -> None:
    client = warehouse.client(compress=compress)
    name = f"big_{uuid.uuid4().hex[:8]}"
    client.command(f"CREATE TABLE {name} (id UInt64, value Float64, tag String) ENGINE = MergeTree ORDER BY id")
    rows = 1_000_000
    ids = np.arange(rows, dtype=np.uint64)
    data = pa.table({"id": ids, "value": ids * 0.5, "tag": pa.array([f"t{i % 97}" for i in range(rows)])})
    client.insert_arrow(name, data)
    assert client.command(f"SELECT count() FROM {name}") == rows
    assert client.command(f"SELECT sum(id) FROM {name}") == rows * (rows - 1) // 2
    back = client.query_arrow(f"SELECT id, tag FROM {name} WHERE id % 100000 = 7 ORDER BY id")
    assert back.column("id").to_pylist() == list(range(7, rows, 100_000))
    assert back.column("tag").to_pylist() == [f"t{i % 97}" for i in range(7, rows, 100_000)]
    client.command(f"DROP TABLE {name}")
    client.close()


def test_streaming_a_large_result_in_blocks(client: Client) -> None:
    rows = 3_000_000
    seen = 0
    blocks = 0
    total = 0
    with client.query_column_block_stream("SELECT number FROM numbers({n:UInt64})", parameters={"n": rows}) as stream:
        for block in stream:
            blocks += 1
            seen += len(block[0])
            total += int(np.asarray(block[0], dtype=np.uint64).sum())
    assert seen == rows
    assert total == rows * (rows - 1) // 2
    assert blocks > 1, "the result arrived in one piece: it was not streamed"


def _exchange(server: WarehouseServer, params: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    """POST `body` with the URL parameters `params`, as the read-write user; the answer's body."""
    request = urllib.request.Request(  # noqa: S310 - loopback test URL
        f"{server.url}/?{params}",
        data=body,
        method="POST",
        headers={"Authorization": "Basic " + b64encode(f"default:{RW_PASSWORD}".encode()).decode(), **(headers or {})},
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310 - loopback test URL
        result: bytes = response.read()
        return result


def _post(server: WarehouseServer, sql: str, body: bytes, encoding: str) -> bytes:
    return _exchange(server, f"query={urllib.parse.quote(sql)}", body, {"Content-Encoding": encoding})


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("lz4", lz4.frame.compress),
        ("zstd", lambda data: zstandard.ZstdCompressor().compress(data)),
        ("gzip", gzip.compress),
        ("deflate", lambda data: __import__("zlib").compress(data)),
    ],
)
def test_compressed_request_bodies(
    warehouse: WarehouseServer, client: Client, table: str, encoding: str, compress: object
) -> None:
    csv = "".join(f"{i},name{i},{i}.25\n" for i in range(1000)).encode()
    assert callable(compress)
    # Two frames/members back to back, as clients that compress block by block send them.
    body = compress(csv[:5000]) + compress(csv[5000:])
    _post(warehouse, f"INSERT INTO {table} FORMAT CSV", body, encoding)
    count, total = client.query(f"SELECT count(), sum(price) FROM {table}").result_rows[0]
    assert count == 1000
    assert total == sum(Decimal(i) + Decimal("0.25") for i in range(1000))


def test_bad_sql_raises_the_servers_code_and_message(client: Client) -> None:
    with pytest.raises(DatabaseError) as raised:
        client.query("SELEC 1")
    assert "Code: 62" in str(raised.value)
    assert "Syntax error" in str(raised.value)


@pytest.mark.parametrize(
    ("sql", "places"),
    [
        ("SELEC 1", ["failed at position 7 (1)"]),
        ("SELECT 1 +", ["failed at position 11 (end of query)"]),
        ("SELECT 1\nFROM x WHERE", ["failed at position 22 (end of query) (line 2, col 13)"]),
        ("SELECT (1\n, 2", ["'(' at position 8 (line 1, col 8) is never closed"]),
        ("INSERT INTO x (a VALUES", ["failed at position 18 (VALUES)", "'(' at position 15 is never closed"]),
    ],
)
def test_a_syntax_error_points_into_the_statement_as_sent(client: Client, sql: str, places: list[str]) -> None:
    # The engine parses the statement behind a marker comment (warehouse/tracker.py); positions must not count it.
    with pytest.raises(DatabaseError) as raised:
        client.raw_query(sql)
    for place in places:
        assert place in str(raised.value)


def test_unknown_table_is_code_60(client: Client) -> None:
    with pytest.raises(DatabaseError) as raised:
        client.query("SELECT * FROM no_such_table_anywhere")
    assert "Code: 60" in str(raised.value)


def test_errors_carry_the_exception_code_header(warehouse: WarehouseServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        _post(warehouse, "SELECT * FROM no_such_table", b"", "")
    assert raised.value.code == 404
    assert raised.value.headers["X-ClickHouse-Exception-Code"] == "60"
    assert raised.value.read().decode().startswith("Code: 60. DB::Exception:")


def test_temporary_tables_are_private_to_their_session(warehouse: WarehouseServer) -> None:
    first = warehouse.client(autogenerate_session_id=True)
    second = warehouse.client(autogenerate_session_id=True)
    first.command("CREATE TEMPORARY TABLE scratch (x UInt8)")
    first.command("INSERT INTO scratch VALUES (1), (2)")
    assert first.command("SELECT count() FROM scratch") == 2
    with pytest.raises(DatabaseError) as raised:
        second.command("SELECT count() FROM scratch")
    assert "Code: 60" in str(raised.value)
    first.close()
    second.close()


def test_two_sessions_in_parallel_threads(warehouse: WarehouseServer) -> None:
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            client = warehouse.client(autogenerate_session_id=True)
            client.command("CREATE TEMPORARY TABLE mine (x UInt32)")
            values = []
            for step in range(20):
                client.command(f"INSERT INTO mine VALUES ({worker * 1000 + step})")
                values.append(int(str(client.command("SELECT max(x) FROM mine"))))
            results[worker] = values
            client.close()
        except BaseException as error:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results[1] == [1000 + s for s in range(20)]
    assert results[2] == [2000 + s for s in range(20)]


def test_a_long_query_does_not_block_a_short_one(warehouse: WarehouseServer, client: Client) -> None:
    long_done = threading.Event()

    def long_query() -> None:
        slow = warehouse.client()
        slow.command("SELECT sleepEachRow(0.5) FROM numbers(6) FORMAT Null", settings={"max_block_size": 1})
        long_done.set()
        slow.close()

    thread = threading.Thread(target=long_query)
    thread.start()
    time.sleep(0.3)
    started = time.perf_counter()
    assert client.command("SELECT 1") == 1
    short_took = time.perf_counter() - started
    assert not long_done.is_set(), "the long query finished before the short one was even asked"
    assert short_took < 1.0, f"the short query waited {short_took:.2f}s behind the long one"
    thread.join()
    assert long_done.is_set()


def test_per_query_settings_do_not_leak(warehouse: WarehouseServer) -> None:
    # One connection, no session: pooled engine connections must not keep a previous request's settings.
    client = warehouse.client()
    setting = "SELECT value FROM system.settings WHERE name = 'max_threads'"
    baseline = client.command(setting)
    for _ in range(5):
        assert str(client.command(setting, settings={"max_threads": 1})) == "1"
        assert client.command(setting) == baseline
    client.close()


def test_settings_in_a_session_keep_the_sessions_own_set(warehouse: WarehouseServer) -> None:
    client = warehouse.client(autogenerate_session_id=True)
    setting = "SELECT value FROM system.settings WHERE name = 'max_threads'"
    client.command("SET max_threads = 3")
    assert str(client.command(setting, settings={"max_threads": 1})) == "1"
    assert str(client.command(setting)) == "3"
    client.close()


def test_analyst_can_read_but_not_write_or_drop(warehouse: WarehouseServer, client: Client, table: str) -> None:
    client.insert(table, [[1, "a", Decimal("1.00")]], column_names=["id", "name", "price"])
    analyst = warehouse.analyst()
    assert analyst.command(f"SELECT count() FROM {table}") == 1
    for statement in (
        f"INSERT INTO {table} (id) VALUES (2)",
        f"DROP TABLE {table}",
        "CREATE TABLE x (a UInt8) ENGINE = Memory",
    ):
        with pytest.raises(DatabaseError) as raised:
            analyst.command(statement)
        assert "Code: 164. DB::Exception: analyst: " in str(raised.value), statement
    with pytest.raises(DatabaseError):
        analyst.insert(table, [[3, "c", Decimal("1.00")]], column_names=["id", "name", "price"])
    assert client.command(f"SELECT count() FROM {table}") == 1
    analyst.close()
    in_session = warehouse.analyst(session_id=f"analyst-{uuid.uuid4().hex}")  # as a SQL IDE keeps one
    in_session.command("USE tickettoken")
    assert in_session.command("SELECT currentDatabase()") == "tickettoken"
    in_session.close()


def test_analyst_limits_cannot_be_lifted_and_stop_long_queries(warehouse: WarehouseServer) -> None:
    analyst = warehouse.analyst()
    for lift in ("max_execution_time = 0", "max_memory_usage = 0", "readonly = 0"):
        with pytest.raises(DatabaseError) as refused:
            analyst.command(f"SELECT 1 SETTINGS {lift}")
        assert "Code: 164" in str(refused.value), lift
    started = time.perf_counter()
    with pytest.raises(DatabaseError) as stopped:
        analyst.command("SELECT sum(cityHash64(number)) FROM numbers(1000000000000)")
    elapsed = time.perf_counter() - started
    assert "Code: 159" in str(stopped.value) or "Code: 394" in str(stopped.value)
    assert 4.0 < elapsed < 15.0, f"stopped after {elapsed:.1f}s; the limit is 5s"
    analyst.close()


def test_wrong_or_missing_credentials_are_401(warehouse: WarehouseServer) -> None:
    with pytest.raises(DatabaseError) as raised:
        warehouse.client(password="wrong")
    assert "516" in str(raised.value)
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{warehouse.url}/?query=SELECT%201")  # noqa: S310 - loopback test URL
    assert missing.value.code == 401
    assert missing.value.headers["X-ClickHouse-Exception-Code"] == "516"


def test_query_log_has_one_line_per_query(warehouse: WarehouseServer, client: Client) -> None:
    query_id = f"log-{uuid.uuid4().hex}"
    client.query("SELECT number FROM numbers(3)", settings={"query_id": query_id})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and query_id not in warehouse.log_text():
        time.sleep(0.05)
    lines = [line for line in warehouse.log_text().splitlines() if f"query_id={query_id}" in line]
    assert len(lines) == 1
    assert "user=default" in lines[0]
    assert "rows=3" in lines[0]
    assert "code=0" in lines[0]
    assert "duration_ms=" in lines[0]


@pytest.mark.parametrize("fmt", ["Arrow", "ArrowStream", "Parquet"])
def test_a_failed_query_leaves_nothing_in_the_next_answer(warehouse: WarehouseServer, fmt: str) -> None:
    # One session, so one engine connection: chDB handed the failed query's Arrow or Parquet header out at the head of
    # the next result on that connection.
    session = warehouse.client(session_id=f"leftovers-{uuid.uuid4().hex}")
    with pytest.raises(DatabaseError, match="Code: 395"):
        session.raw_query("SELECT number FROM numbers(300000) ORDER BY throwIf(number = 150000) + number", fmt=fmt)
    assert bytes(session.raw_query("SELECT 1", fmt="TabSeparated")) == b"1\n"
    assert session.query("SELECT 2").result_rows == [(2,)]


def test_an_error_mid_stream_fails_the_read(client: Client) -> None:
    sql = "SELECT number, throwIf(number = 250000, 'boom') FROM numbers(300000)"
    received = 0
    with (
        pytest.raises(Exception, match="boom") as raised,
        client.query_column_block_stream(sql, settings={"max_block_size": 10000}) as stream,
    ):
        for block in stream:
            received += len(block[0])
    assert "Code: 395" in str(raised.value)
    assert received < 300000


@pytest.mark.parametrize("always_form", [False, True])
def test_large_parameters_sent_as_a_form(warehouse: WarehouseServer, always_form: bool) -> None:
    # clickhouse-connect sends a query with bound parameters as a multipart form (and always, with
    # form_encode_query_params); real ClickHouse reads `query` and `param_*` from it.
    client = warehouse.client(form_encode_query_params=always_form)
    ids = [f"id-{n}" for n in range(20_000)]
    sql = "SELECT count() FROM numbers(30000) WHERE concat('id-', toString(number)) IN {ids:Array(String)}"
    assert client.query(sql, parameters={"ids": ids}).result_rows == [(20_000,)]
    client.close()


def test_parameters_in_urls_as_long_as_clickhouse_takes(warehouse: WarehouseServer, client: Client) -> None:
    """`command` puts its parameters in the URL: 10,000 UUIDs are ~400 KB of it, which ClickHouse takes (up to its
    http_max_uri_size, 1 MiB) and this server refused as an invalid request past 64 KiB."""
    ids = [str(uuid.uuid4()) for _ in range(10_000)]
    sql = "SELECT count(), sum(length(x)) FROM (SELECT arrayJoin({ids:Array(String)}) AS x)"
    assert client.command(sql, parameters={"ids": ids}) == ["10000", "360000"]
    auth = {"Authorization": "Basic " + b64encode(f"default:{RW_PASSWORD}".encode()).decode()}
    for size, status in ((1_000_000, 200), (1_100_000, 400)):
        url = f"{warehouse.url}/?query=SELECT+length(%7Bx:String%7D)&param_x={'a' * size}"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=30) as answer:  # noqa: S310
                assert (answer.status, answer.read()) == (status, f"{size}\n".encode())
        except urllib.error.HTTPError as refused:
            assert refused.code == status == 400, refused.read()


@pytest.mark.parametrize("http_compression", [False, True])
def test_answers_in_clickhouses_compressed_blocks(warehouse: WarehouseServer, http_compression: bool) -> None:
    """`compress=1`, which the Java client and JDBC driver (DBeaver, DataGrip) send by default: they read the
    answer as ClickHouse's compressed blocks and nothing else. It was refused with code 48."""
    big = b"SELECT number, toString(number * 7) AS s FROM numbers(300000) FORMAT TSVWithNames"  # streamed, > 1 MiB
    plain = _exchange(warehouse, "", big)
    extra = ("&enable_http_compression=1", {"Accept-Encoding": "gzip"}) if http_compression else ("", {})
    answer = _exchange(warehouse, "compress=1" + extra[0], big, extra[1])
    assert driver_reads(gzip.decompress(answer) if http_compression else answer) == plain
    assert len(plain) > 2 << 20
    small = _exchange(warehouse, "compress=1" + extra[0], b"SELECT 42", extra[1])  # answered in one piece
    assert driver_reads(gzip.decompress(small) if http_compression else small) == b"42\n"


def test_errors_with_compressed_answers_come_as_the_java_client_reads_them(warehouse: WarehouseServer) -> None:
    """In blocks for 400, 404 and 500 (errors met once ClickHouse made the answer's output); as plain text for
    the others, such as a refused password."""
    with pytest.raises(urllib.error.HTTPError) as raised:
        _exchange(warehouse, "compress=1", b"SELEC 1")
    assert raised.value.code == 400
    assert driver_reads(raised.value.read()).startswith(b"Code: 62. DB::Exception:")
    with pytest.raises(urllib.error.HTTPError) as raised:
        _exchange(warehouse, "compress=1", b"SELECT * FROM no_such_table")
    assert raised.value.code == 404
    assert driver_reads(raised.value.read()).startswith(b"Code: 60. DB::Exception:")
    with pytest.raises(urllib.error.HTTPError) as raised:
        _exchange(warehouse, "compress=1", b"SELECT 1", {"Authorization": "Basic " + b64encode(b"default:no").decode()})
    assert raised.value.code == 401
    assert raised.value.read().startswith(b"Code: 516. DB::Exception:")


def test_bodies_in_clickhouses_compressed_blocks(warehouse: WarehouseServer, client: Client, table: str) -> None:
    """`decompress=1`: the body (after its Content-Encoding) is ClickHouse's compressed blocks; a corrupted one is
    refused whole."""
    csv = "".join(f"{i},name{i},{i}.25\n" for i in range(1000)).encode()
    body = driver_writes(csv[:5000]) + driver_writes(csv[5000:], ZstdCompressor)
    _exchange(warehouse, f"decompress=1&query={urllib.parse.quote(f'INSERT INTO {table} FORMAT CSV')}", body)
    assert client.query(f"SELECT count(), sum(id) FROM {table}").result_rows == [(1000, 499_500)]

    corrupted = bytearray(driver_writes(csv))
    corrupted[30] ^= 0x01
    with pytest.raises(urllib.error.HTTPError) as raised:
        _exchange(warehouse, f"decompress=1&query={urllib.parse.quote(f'INSERT INTO {table} FORMAT CSV')}",
                  bytes(corrupted))  # fmt: skip
    assert (raised.value.code, raised.value.headers["X-ClickHouse-Exception-Code"]) == (400, "40")
    assert client.command(f"SELECT count() FROM {table}") == 1000


def _short_length(data: bytes, at: int) -> tuple[int, int]:
    """A length under 128, RowBinary's one-byte varint: all this test's names and values are that short."""
    assert data[at] < 0x80, f"a longer length at byte {at}: not this test's data"
    return data[at], at + 1


@pytest.mark.parametrize("native", [False, True])
def test_rowbinary_with_names_and_types_streams_as_one_document(warehouse: WarehouseServer, native: bool) -> None:
    """The Java client's (and JDBC driver's) default format: it was built whole in memory; now streamed, the
    header once. Read here as that client reads it: header, then rows (UInt64, then String) to the end."""
    rows = 300_000
    sql = f"SELECT number, toString(number) AS s FROM numbers({rows}) FORMAT RowBinaryWithNamesAndTypes"
    request = urllib.request.Request(  # noqa: S310 - loopback test URL
        f"{warehouse.url}/?compress={int(native)}", data=sql.encode(), method="POST",
        headers={"Authorization": "Basic " + b64encode(f"default:{RW_PASSWORD}".encode()).decode()},
    )  # fmt: skip
    with urllib.request.urlopen(request) as response:  # noqa: S310 - loopback test URL
        assert response.headers["Content-Length"] is None, "answered whole, not streamed"
        body = response.read()
    data = driver_reads(body) if native else body
    count, at = _short_length(data, 0)
    header = []
    for _ in range(2 * count):
        size, at = _short_length(data, at)
        header.append(data[at : at + size].decode())
        at += size
    assert header == ["number", "s", "UInt64", "String"]
    for expected in range(rows):
        assert int.from_bytes(data[at : at + 8], "little") == expected, at
        size, at = _short_length(data, at + 8)
        assert data[at : at + size] == str(expected).encode()
        at += size
    assert at == len(data)

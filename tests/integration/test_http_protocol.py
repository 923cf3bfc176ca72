"""The ClickHouse HTTP interface itself, as curl or a SQL IDE would use it."""

from __future__ import annotations

import gzip
import http.client
import json
import urllib.parse
import uuid
from base64 import b64encode
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.support import RW_PASSWORD, WarehouseServer

AUTH = {"Authorization": "Basic " + b64encode(f"default:{RW_PASSWORD}".encode()).decode()}


def _request(
    server: WarehouseServer,
    method: str,
    params: dict[str, str],
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request(method, "/?" + urllib.parse.urlencode(params), body=body, headers={**AUTH, **(headers or {})})
    response = connection.getresponse()
    result = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    connection.close()
    return result


def _post_sql(server: WarehouseServer, sql: str, **params: str) -> tuple[int, bytes]:
    """`sql` as the body of a POST with `params`: the status and the body of the answer."""
    status, _, body = _request(server, "POST", params, sql.encode())
    return status, body


def test_ping(warehouse: WarehouseServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", warehouse.port)
    for path in ("/ping", "/"):
        connection.request("GET", path)
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"Ok.\n")
    connection.close()


def test_default_format_and_format_header_only_for_rows(warehouse: WarehouseServer) -> None:
    status, headers, body = _request(
        warehouse, "GET", {"query": "SELECT number AS n FROM numbers(2)", "default_format": "JSONEachRow"}
    )
    assert status == 200
    assert body == b'{"n":0}\n{"n":1}\n'
    assert headers["x-clickhouse-format"] == "JSONEachRow"
    assert headers["x-clickhouse-timezone"] in ("UTC", "Etc/UTC")
    assert json.loads(headers["x-clickhouse-summary"])["result_rows"] == "2"
    table = f"fmt_{uuid.uuid4().hex[:8]}"
    status, headers, _ = _request(warehouse, "POST", {}, f"CREATE TABLE {table} (a UInt8) ENGINE = Memory".encode())
    assert status == 200
    assert "x-clickhouse-format" not in headers


def test_query_parameter_joined_with_the_body_and_inline_data(warehouse: WarehouseServer) -> None:
    table = f"inline_{uuid.uuid4().hex[:8]}"
    assert (
        _request(warehouse, "POST", {}, f"CREATE TABLE {table} (a UInt32, b String) ENGINE = Memory".encode())[0] == 200
    )
    assert _request(warehouse, "POST", {"query": f"INSERT INTO {table} VALUES"}, b"(1, 'x'), (2, 'y')")[0] == 200
    assert _request(warehouse, "POST", {}, f"INSERT INTO {table} FORMAT CSV\n3,z\n".encode())[0] == 200
    status, _, body = _request(warehouse, "GET", {"query": f"SELECT a, b FROM {table} ORDER BY a"})
    assert (status, body) == (200, b"1\tx\n2\ty\n3\tz\n")


def test_get_is_read_only(warehouse: WarehouseServer) -> None:
    status, headers, body = _request(warehouse, "GET", {"query": "CREATE TABLE never (a UInt8) ENGINE = Memory"})
    assert status == 403
    assert headers["x-clickhouse-exception-code"] == "164"
    assert b"method GET implies readonly" in body


def test_a_statement_is_judged_the_same_when_its_text_comes_again(warehouse: WarehouseServer) -> None:
    """Classifications are remembered per text (warehouse/connection.py): what they decide must not change."""
    table = f"again_{uuid.uuid4().hex[:8]}"
    create = f"CREATE TABLE {table} (a UInt8) ENGINE = Memory"
    for _ in range(2):
        assert _request(warehouse, "GET", {"query": create})[0] == 403
        assert _request(warehouse, "POST", {}, b"SELECT 1; SELECT 2")[0] == 400
    assert _request(warehouse, "POST", {"query": create})[0] == 200
    for _ in range(2):
        assert _request(warehouse, "GET", {"query": f"INSERT INTO {table} VALUES (1)"})[0] == 403
        assert _request(warehouse, "POST", {"query": f"INSERT INTO {table} VALUES (1)"})[0] == 200
    assert _request(warehouse, "GET", {"query": f"SELECT count() FROM {table}"})[2] == b"2\n"


def test_query_id_is_echoed(warehouse: WarehouseServer) -> None:
    status, headers, _ = _request(warehouse, "GET", {"query": "SELECT 1", "query_id": "my-query-1"})
    assert (status, headers["x-clickhouse-query-id"]) == (200, "my-query-1")


def test_session_check_and_session_database(warehouse: WarehouseServer) -> None:
    session = uuid.uuid4().hex
    status, headers, _ = _request(warehouse, "GET", {"query": "SELECT 1", "session_id": session, "session_check": "1"})
    assert (status, headers["x-clickhouse-exception-code"]) == (404, "372")
    database = f"sess_{uuid.uuid4().hex[:8]}"
    assert _request(warehouse, "POST", {}, f"CREATE DATABASE {database}".encode())[0] == 200
    assert _request(warehouse, "POST", {"session_id": session}, f"USE {database}".encode())[0] == 200
    status, _, body = _request(
        warehouse, "GET", {"query": "SELECT currentDatabase()", "session_id": session, "session_check": "1"}
    )
    assert (status, body) == (200, database.encode() + b"\n")
    status, _, body = _request(
        warehouse, "GET", {"query": "SELECT currentDatabase()", "database": "system", "session_id": session}
    )
    assert (status, body) == (200, b"system\n")
    status, _, body = _request(warehouse, "GET", {"query": "SELECT currentDatabase()", "session_id": session})
    assert (status, body) == (200, database.encode() + b"\n"), "a per-query database must not change the session's"


@pytest.mark.parametrize("encoding", ["gzip", "zstd", "lz4", "deflate"])
def test_response_compression_when_asked(warehouse: WarehouseServer, encoding: str) -> None:
    status, headers, body = _request(
        warehouse,
        "GET",
        {"query": "SELECT number FROM numbers(100000)", "enable_http_compression": "1"},
        headers={"Accept-Encoding": encoding},
    )
    assert status == 200
    assert headers["content-encoding"] == encoding
    from warehouse.codecs import BodyDecoder

    plain = BodyDecoder(encoding).decode(body)
    assert plain == b"".join(b"%d\n" % i for i in range(100000))
    assert len(body) < len(plain)
    if encoding == "gzip":
        assert gzip.decompress(body) == plain


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_an_error_mid_stream_is_encoded_as_the_rows_were(warehouse: WarehouseServer, encoding: str) -> None:
    """As ClickHouse sends it: the exception went out as plain text inside the gzip or zstd body, which broke the
    client's decoding, so the error that ended the rows never reached anyone."""
    from warehouse.codecs import BodyDecoder

    sql = "SELECT number, throwIf(number = 250000, 'boom') FROM numbers(300000) FORMAT CSV"
    connection = http.client.HTTPConnection("127.0.0.1", warehouse.port, timeout=30)
    params = {"query": sql, "enable_http_compression": "1", "max_block_size": "10000"}
    connection.request("GET", "/?" + urllib.parse.urlencode(params), headers={**AUTH, "Accept-Encoding": encoding})
    response = connection.getresponse()
    assert (response.status, response.getheader("Content-Encoding")) == (200, encoding)
    with pytest.raises(http.client.IncompleteRead) as broken:  # the stream is broken off, as ClickHouse does
        response.read()
    connection.close()
    plain = BodyDecoder(encoding).decode(broken.value.partial)
    rows, _, error = plain.partition(b"\nCode: ")
    # Every row before the failing block may have gone out (all 250,000 when the engine had sent them): the rows that
    # arrived are an unbroken prefix of the answer, and none of the failing block's.
    count = len(rows.splitlines())
    assert 0 < count <= 250000 and rows == b"".join(b"%d,0\n" % i for i in range(count))
    assert error.startswith(b"395. DB::Exception: boom"), error[:200]


def test_multi_statements_are_refused(warehouse: WarehouseServer) -> None:
    status, headers, _ = _request(warehouse, "POST", {}, b"SELECT 1; SELECT 2")
    assert (status, headers["x-clickhouse-exception-code"]) == (400, "62")


def test_into_outfile_is_refused_as_clickhouse_refuses_it_over_http(warehouse: WarehouseServer, tmp_path: Path) -> None:
    """The embedded engine wrote the file on the server, wherever its user may write, for the read-only analyst too
    (an `authorized_keys`, a file of the warehouse's own)."""
    target = tmp_path / "written-by-a-query.txt"
    for sql in (f"SELECT 1 INTO OUTFILE '{target}'", f"SELECT 1 INTO /* a comment */ OUTFILE '{target}' FORMAT CSV"):
        for client in (warehouse.analyst(), warehouse.client()):
            with pytest.raises(DatabaseError) as raised:
                client.command(sql)
            assert "Code: 358. DB::Exception: INTO OUTFILE is not allowed" in str(raised.value)
    assert not target.exists()
    # The words in a text or a name are no clause.
    assert warehouse.analyst().command("SELECT 'INTO OUTFILE' AS `into outfile`") == "INTO OUTFILE"


def test_chunked_request_body(warehouse: WarehouseServer) -> None:
    table = f"chunked_{uuid.uuid4().hex[:8]}"
    assert _request(warehouse, "POST", {}, f"CREATE TABLE {table} (a UInt32) ENGINE = Memory".encode())[0] == 200
    connection = http.client.HTTPConnection("127.0.0.1", warehouse.port)
    rows = (b"%d\n" % i for i in range(5000))
    connection.request(
        "POST",
        "/?" + urllib.parse.urlencode({"query": f"INSERT INTO {table} FORMAT TSV"}),
        body=rows,
        headers=AUTH,
        encode_chunked=True,
    )
    response = connection.getresponse()
    assert response.status == 200, response.read()
    response.read()
    connection.close()
    assert _request(warehouse, "GET", {"query": f"SELECT count(), sum(a) FROM {table}"})[2] == b"5000\t12497500\n"


def test_readonly_holds_for_its_request_only(warehouse: WarehouseServer) -> None:
    # As in ClickHouse, a setting in the URL is the request's: readonly=1 set on the engine connection could not be
    # set back (it forbids changing settings), and the connection serves other requests after this one.
    session = {"session_id": f"readonly-{uuid.uuid4().hex}"}
    table = f"ro_{uuid.uuid4().hex[:8]}"

    def run(sql: str, **params: str) -> tuple[int, bytes]:
        return _post_sql(warehouse, sql, **session, **params)

    assert run(f"CREATE TABLE {table} (a UInt8) ENGINE = Memory")[0] == 200
    for readonly in ("1", "2"):
        status, body = run(f"INSERT INTO {table} VALUES (1)", readonly=readonly)
        assert (status, body) == (403, b"Code: 164. DB::Exception: Cannot execute query in readonly mode\n")
        assert run(f"DROP TABLE {table}", readonly=readonly)[0] == 403
        assert run("SELECT 1", readonly=readonly) == (200, b"1\n")
    assert run("SELECT 1", readonly="1", max_threads="1")[0] == 403  # readonly=1: no setting changes either
    assert run("SET max_threads = 1", readonly="1")[0] == 403
    assert run("SELECT getSetting('max_threads')", readonly="2", max_threads="1") == (200, b"1\n")
    assert run("SELECT 1", readonly="3")[0] == 400
    assert run(f"INSERT INTO {table} VALUES (7)") == (200, b"")  # the next request writes as before
    assert run(f"SELECT sum(a) FROM {table}") == (200, b"7\n")
    assert run(f"DROP TABLE {table}")[0] == 200


@pytest.mark.parametrize("shaping", [{"extremes": "1"}, {"limit": "1"}, {"max_result_rows": "1"}])
def test_settings_that_shape_results_do_not_reach_the_servers_own_queries(
    warehouse: WarehouseServer, shaping: dict[str, str]
) -> None:
    # The server reads settings' values and the engine's error counts on the request's connection; those reads must
    # come back whole under a request's (or a session's lingering) settings.
    session = {"session_id": f"shaping-{uuid.uuid4().hex}"}
    table = f"sh_{uuid.uuid4().hex[:8]}"
    create = f"CREATE TABLE {table} (a UInt8) ENGINE = MergeTree ORDER BY a"
    assert _request(warehouse, "POST", session, create.encode())[0] == 200
    insert = {**session, **shaping, "query": f"INSERT INTO {table} FORMAT TSV"}
    assert _request(warehouse, "POST", insert, b"1\n2\n3\n")[:1] == (200,)
    assert _request(warehouse, "POST", {**session, "max_threads": "1"}, b"SELECT 1")[0] == 200  # a new setting after
    assert _post_sql(warehouse, f"SELECT count() FROM {table}", **session) == (200, b"3\n")
    assert _request(warehouse, "POST", session, f"DROP TABLE {table}".encode())[0] == 200


def test_set_use_and_temporary_tables_without_a_session_last_for_their_request(warehouse: WarehouseServer) -> None:
    # Without a session, the engine connection goes back to a pool and serves the next request: a SET or USE sent
    # there must not follow it (as in ClickHouse), or `SET readonly = 1` would refuse every later write on it.
    def run(sql: str) -> tuple[int, bytes]:
        return _post_sql(warehouse, sql)

    table = f"sl_{uuid.uuid4().hex[:8]}"
    assert run(f"CREATE TABLE {table} (a UInt8) ENGINE = Memory")[0] == 200
    assert run("SET readonly = 1, max_threads = 1") == (200, b"")
    assert run("USE system") == (200, b"")
    for n in range(5):
        assert run(f"INSERT INTO {table} VALUES ({n})") == (200, b"")
        assert run("SELECT currentDatabase()") == (200, b"default\n")
        assert run("SELECT getSetting('max_threads') = 1") == (200, b"0\n")
    assert run(f"SELECT count() FROM {table}") == (200, b"5\n")
    assert run("CREATE TEMPORARY TABLE scratch (a UInt8)") == (200, b"")  # lives in its request
    assert run("SELECT * FROM scratch")[1].startswith(b"Code: 60.")
    assert run("CREATE TEMPORARY TABLE scratch (a UInt8)") == (200, b"")
    assert run("SET no_such_setting = 1")[1].startswith(b"Code: 115.")  # still checked by the engine
    assert run("USE no_such_database")[1].startswith(b"Code: 81.")
    assert run(f"DROP TABLE {table}")[0] == 200

"""The warehouse server as a process: graceful stop, restart on the same data, cancel, memory, listening."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.support import ROOT, RW_PASSWORD, WarehouseServer, cli_env, free_port, tickettoken

CLEAN_EXIT = (0, -signal.SIGTERM)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[WarehouseServer]:
    """A server of the test's own, which the test may stop and start."""
    server = WarehouseServer(data_dir=tmp_path / "data", port=free_port(), log_path=tmp_path / "server.log")
    yield server
    server.stop()


def test_data_survives_a_sigterm_restart(own_server: WarehouseServer) -> None:
    own_server.start()
    client = own_server.client()
    client.command("CREATE TABLE kept (id UInt32) ENGINE = MergeTree ORDER BY id")
    client.command("INSERT INTO kept SELECT number FROM numbers(12345)")
    client.close()
    # uvicorn re-raises the signal after its graceful shutdown, so a clean stop reads as "ended by SIGTERM".
    assert own_server.stop() in CLEAN_EXIT
    assert "warehouse engine closed cleanly" in own_server.log_text()

    own_server.start()
    client = own_server.client()
    assert client.command("SELECT count() FROM kept") == 12345
    client.close()


def test_sigterm_lets_an_in_flight_query_finish(own_server: WarehouseServer) -> None:
    own_server.start()
    outcome: dict[str, object] = {}

    def slow_query() -> None:
        client = own_server.client()
        try:
            outcome["value"] = client.command(
                "SELECT sum(x) FROM (SELECT sleepEachRow(1), number AS x FROM numbers(4)) SETTINGS max_block_size = 1"
            )
        except Exception as error:  # noqa: BLE001 - recorded and asserted on below
            outcome["error"] = error

    thread = threading.Thread(target=slow_query)
    thread.start()
    time.sleep(0.5)
    assert own_server.process is not None
    own_server.process.terminate()
    thread.join(30)
    assert outcome.get("value") == 6, outcome
    assert own_server.process.wait(30) in CLEAN_EXIT


def _query_in_flight(client: Client, marker: str) -> bool:
    sql = (
        "SELECT count() FROM system.processes "
        "WHERE position(query, {m:String}) > 0 AND query NOT LIKE '%system.processes%'"
    )
    return bool(client.command(sql, parameters={"m": marker}))


def test_a_disconnected_client_has_its_query_cancelled(warehouse: WarehouseServer, client: Client) -> None:
    marker = "cancel_me_" + str(time.monotonic_ns())
    sql = f"SELECT sum(cityHash64(number)) FROM numbers(1000000000000) /* {marker} */"
    auth = b64encode(f"default:{RW_PASSWORD}".encode()).decode()
    request = (
        f"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Length: {len(sql)}\r\n\r\n{sql}"
    ).encode()
    with socket.create_connection(("127.0.0.1", warehouse.port)) as sock:
        sock.sendall(request)
        deadline = time.monotonic() + 10
        while not _query_in_flight(client, marker):
            assert time.monotonic() < deadline, "the query never started"
            time.sleep(0.05)
    deadline = time.monotonic() + 5
    while _query_in_flight(client, marker):
        assert time.monotonic() < deadline, "the query kept running after its client went away"
        time.sleep(0.05)


def _endless_query(runner: Client, watcher: Client, query_id: str, outcome: list[str]) -> threading.Thread:
    """A query that runs until cancelled, under `query_id` (also its marker), in a thread of `runner`'s, once
    `watcher` sees it run; `outcome` gets the error that ended it."""

    def run() -> None:
        try:
            runner.command(f"SELECT sum(cityHash64(number)) FROM numbers(1000000000000) /* {query_id} */",
                           settings={"query_id": query_id})  # fmt: skip
        except DatabaseError as error:
            outcome.append(str(error))

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while not _query_in_flight(watcher, query_id):
        assert time.monotonic() < deadline, "the query never started"
        time.sleep(0.05)
    return thread


def test_queries_are_cancelled_by_their_id_and_the_analyst_may_not_stop_the_services(
    warehouse: WarehouseServer, client: Client
) -> None:
    """`KILL QUERY WHERE query_id = ...` (how the Node client and the JDBC driver cancel) matched nothing, as the
    engine gives queries ids of its own; and the read-only analyst could stop any query of the service's
    (`KILL QUERY WHERE 1`) or every merge (`SYSTEM STOP MERGES`), and bring back a dropped table (`UNDROP`)."""
    analyst = warehouse.analyst()
    dropped = f"tickettoken.dropped_{time.monotonic_ns()}"
    client.command(f"CREATE TABLE {dropped} (a UInt8) ENGINE = MergeTree ORDER BY a")
    client.command(f"DROP TABLE {dropped}")
    refused = (
        "KILL QUERY WHERE 1 SYNC",
        "KILL QUERY WHERE user = 'default'",
        "SYSTEM STOP MERGES",
        f"UNDROP TABLE {dropped}",
    )
    for statement in refused:
        with pytest.raises(DatabaseError, match="Code: 164"):
            analyst.command(statement)
    assert client.command(f"EXISTS TABLE {dropped}") == 0

    theirs, mine = f"svc-{time.monotonic_ns()}", f"own-{time.monotonic_ns()}"
    ended: dict[str, list[str]] = {theirs: [], mine: []}
    threads = {theirs: _endless_query(warehouse.client(), client, theirs, ended[theirs]),
               mine: _endless_query(warehouse.analyst(), client, mine, ended[mine])}  # fmt: skip
    try:
        for killer, query_id in ((analyst, theirs), (analyst, mine), (client, theirs)):
            killer.command(f"KILL QUERY WHERE query_id = '{query_id}' SYNC")
            if killer is analyst and query_id == theirs:  # not the analyst's: it runs on
                time.sleep(1)
                assert _query_in_flight(client, theirs) and not ended[theirs]
                continue
            threads[query_id].join(5)
            assert not threads[query_id].is_alive() and "Code: 394" in ended[query_id][0], ended  # CANCELLED
    finally:  # an endless query left running would outlive the test
        client.command(f"KILL QUERY WHERE position(query, '{theirs}') > 0 OR position(query, '{mine}') > 0 SYNC")
        for thread in threads.values():
            thread.join(10)


def test_a_ten_million_row_result_is_streamed_not_held(warehouse: WarehouseServer) -> None:
    assert warehouse.process is not None
    server = psutil.Process(warehouse.process.pid)
    client = warehouse.client(compress=False)
    baseline = server.memory_info().rss
    peak = baseline
    received = 0
    sql = "SELECT number, repeat('x', 40) AS pad FROM numbers(10000000)"
    with client.query_column_block_stream(sql) as stream:
        for block in stream:
            received += len(block[0])
            peak = max(peak, server.memory_info().rss)
            time.sleep(0.002)  # a slow reader: an unstreamed result would pile up in the server meanwhile
    client.close()
    result_bytes = received * (8 + 41)
    assert received == 10_000_000
    growth = peak - baseline
    assert growth < result_bytes / 3, f"server grew {growth >> 20} MiB for a {result_bytes >> 20} MiB result"


@pytest.mark.parametrize("host", ["0.0.0.0"])
def test_refuses_to_listen_beyond_loopback_without_passwords(tmp_path: Path, host: str) -> None:
    result = subprocess.run(
        tickettoken("warehouse", "serve", "--host", host, "--port", str(free_port())),
        env=cli_env({"TICKETTOKEN_DATA_DIR": str(tmp_path)}),
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert b"refusing to listen" in result.stderr


def test_a_second_server_on_the_same_directory_refuses_to_start(warehouse: WarehouseServer) -> None:
    result = subprocess.run(
        tickettoken("warehouse", "serve", "--port", str(free_port())),
        env={**warehouse.env(), "TICKETTOKEN_CLICKHOUSE_URL": "http://127.0.0.1:1"},
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    printed = (result.stderr + result.stdout).decode()
    # One line naming the holder, before the engine is opened (chDB's own error, then uvicorn's exit code 3).
    assert f"Error: {warehouse.data_dir / 'warehouse'} is in use by another warehouse (PID: {warehouse.pid}," in printed
    assert "Traceback" not in printed

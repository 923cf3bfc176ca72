"""`tickettoken sql` as an analyst would run it."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

from tests.support import ROOT, WarehouseServer, cli_env, free_port, tickettoken


def _sql(warehouse: WarehouseServer, *args: str) -> subprocess.CompletedProcess[str]:
    return warehouse.run_cli("sql", *args)


def test_table_csv_and_json_output(warehouse: WarehouseServer) -> None:
    query = "SELECT number AS n, toString(number * 2) AS doubled FROM numbers(3)"
    table = _sql(warehouse, query)
    assert table.returncode == 0, table.stderr
    assert "doubled" in table.stdout
    assert "3 row(s)" in table.stdout
    csv = _sql(warehouse, query, "--format", "csv")
    assert csv.stdout.splitlines() == ['"n","doubled"', '0,"0"', '1,"2"', '2,"4"']
    lines = _sql(warehouse, query, "--format", "json").stdout.splitlines()
    assert [json.loads(line) for line in lines] == [{"n": i, "doubled": str(i * 2)} for i in range(3)]


def test_writes_are_refused_for_the_analyst(warehouse: WarehouseServer) -> None:
    result = _sql(warehouse, "CREATE TABLE analyst_made (a UInt8) ENGINE = Memory")
    assert result.returncode != 0
    assert "164" in result.stderr
    assert "readonly" in result.stderr.lower()
    setting = _sql(warehouse, "SELECT 1 SETTINGS max_block_size = 10")
    assert "Code: 164" in setting.stderr
    # The statement echoed as the analyst wrote it, without the comment the server marks its statements with.
    assert "(in query: SELECT 1 SETTINGS max_block_size = 10)" in setting.stderr, setting.stderr


def test_a_statement_with_its_own_format_is_printed_as_the_warehouse_answers_it(warehouse: WarehouseServer) -> None:
    own = _sql(warehouse, "SELECT number AS n FROM numbers(2) FORMAT JSONEachRow")
    assert own.returncode == 0, own.stderr
    assert own.stdout.splitlines() == ['{"n":0}', '{"n":1}']
    both = _sql(warehouse, "SELECT 1 FORMAT JSON", "--format", "csv")
    assert both.returncode == 2
    assert "the statement names its own format (FORMAT JSON): leave out --format" in both.stderr


def test_errors_are_the_warehouses_message_or_why_it_did_not_answer(warehouse: WarehouseServer) -> None:
    for fmt in ("table", "csv", "json"):
        bad = _sql(warehouse, "SELEC 1", "--format", fmt)
        assert bad.returncode == 1
        assert bad.stderr.startswith("Error: Code: 62. DB::Exception: Syntax error: failed at position 7"), bad.stderr
        assert "for url" not in bad.stderr
        # The statement as the analyst wrote it, not with the client's FORMAT clause.
        assert "(line 1, col 7): 1. Expected one of:" in bad.stderr and "FORMAT" not in bad.stderr, bad.stderr
    url = f"http://127.0.0.1:{free_port()}"
    down = subprocess.run(
        tickettoken("sql", "SELECT 1"),
        env=cli_env({"TICKETTOKEN_CLICKHOUSE_URL": url.replace("//", "//analyst:hush@")}),  # not printed
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert down.returncode == 1
    assert down.stderr == f"Error: the warehouse at {url} did not answer (Connection refused)\n"


def test_an_error_after_the_first_rows_is_the_warehouses_message(warehouse: WarehouseServer) -> None:
    """The rows before it are printed, and the error goes to stderr as itself: it was "the warehouse did not answer
    (Connection broken: IncompleteRead...)", and nothing else."""
    failing = _sql(
        warehouse, "SELECT number, throwIf(number = 2000000, 'boom') FROM numbers(3000000)", "--format", "csv"
    )
    assert failing.returncode == 1
    assert failing.stderr.startswith("Error: Code: 395. DB::Exception: boom"), failing.stderr[:300]
    assert failing.stdout.startswith('"number","throwIf(equals(number, 2000000), \'boom\')"\n0,0\n1,0\n')
    assert failing.stdout.endswith(",0\n") and "Code" not in failing.stdout


def test_an_export_streams_and_stops_when_its_reader_does(warehouse: WarehouseServer) -> None:
    """`tickettoken sql --format csv ... | head`: the rows come as the warehouse sends them, and when the reader
    has had enough the command ends and the statement stops. The whole result was gathered first: nothing printed
    until it was complete, and an endless one ran until the analyst's time limit."""
    tag = uuid.uuid4().hex
    sql = f"SELECT number /* {tag} */ FROM system.numbers"
    reader = subprocess.Popen(
        tickettoken("sql", "--format", "csv", sql), env=warehouse.env(), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert reader.stdout is not None and reader.stderr is not None
    assert [reader.stdout.readline() for _ in range(3)] == [b'"number"\n', b"0\n", b"1\n"]
    reader.stdout.close()  # as `head` does
    assert reader.wait(timeout=30) == 1
    assert reader.stderr.read() == b"", "a closed pipe is no error to report"
    client, deadline = warehouse.client(), time.monotonic() + 10
    while time.monotonic() < deadline:
        running = client.command(
            f"SELECT count() FROM system.processes WHERE query LIKE '%{tag}%' AND query NOT LIKE '%processes%'"
        )
        if running == 0:
            break
        time.sleep(0.1)
    assert running == 0, "the statement went on after its reader stopped"

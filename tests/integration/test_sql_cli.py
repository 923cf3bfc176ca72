"""`tickettoken sql` as an analyst would run it."""

from __future__ import annotations

import json
import subprocess

from tests.support import WarehouseServer, cli_env, free_port, tickettoken


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

"""`tickettoken sql` as an analyst would run it."""

from __future__ import annotations

import json
import subprocess

from tests.support import WarehouseServer


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

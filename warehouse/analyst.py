"""`tickettoken sql`: one statement as the read-only analyst, printed as a table, CSV or JSON lines."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from tickettoken.settings import WarehouseSettings
from warehouse.client import connect_analyst

TABLE_ROW_LIMIT = 10_000  # a terminal table of more rows helps nobody; use --format csv for exports


def run_analyst_query(settings: WarehouseSettings, query: str, fmt: str) -> str:
    client = connect_analyst(settings)
    try:
        if fmt == "csv":
            return bytes(client.raw_query(query, fmt="CSVWithNames")).decode()
        if fmt == "json":
            return bytes(client.raw_query(query, fmt="JSONEachRow")).decode()
        rows: list[tuple[object, ...]] = []
        with client.query_rows_stream(query) as stream:
            columns = list(stream.source.column_names)
            for row in stream:
                rows.append(tuple(row))
                if len(rows) > TABLE_ROW_LIMIT:
                    break
    finally:
        client.close()
    return render_table(columns, rows)


def render_table(columns: list[str], rows: list[tuple[object, ...]]) -> str:
    table = Table(*columns, show_lines=False)
    for row in rows[:TABLE_ROW_LIMIT]:
        table.add_row(*("NULL" if value is None else str(value) for value in row))
    out = io.StringIO()
    Console(file=out, width=200, force_terminal=False).print(table)
    footer = f"{min(len(rows), TABLE_ROW_LIMIT)} row(s)"
    if len(rows) > TABLE_ROW_LIMIT:
        footer += " shown; more exist (use --format csv for all)"
    return out.getvalue() + footer + "\n"

"""`tickettoken sql`: one statement as the read-only analyst, printed as a table, CSV or JSON lines."""

from __future__ import annotations

import io
import re

from clickhouse_connect.driver.exceptions import OperationalError
from rich.console import Console
from rich.table import Table

from tickettoken.settings import WarehouseSettings
from warehouse.client import connect_analyst

_OS_ERROR = re.compile(r"\[Errno -?\d+\] ([^\"')]+)")  # why a connection failed, in urllib3's account
# clickhouse-connect's wrapping of the warehouse's own message, which alone says what went wrong.
_WRAPPED = re.compile(r"^.*?server response: (?P<message>.*?)(?: \(for url [^)]*\))?$", re.DOTALL)
# The FORMAT clause clickhouse-connect appends to the statement for the formats used below: a syntax error's echo
# of the statement showed it to the analyst, who never wrote it.
_APPENDED_FORMAT = re.compile(r"\n FORMAT (?:Native|CSVWithNames|JSONEachRow)\b")
TABLE_ROW_LIMIT = 10_000  # a terminal table of more rows helps nobody; use --format csv for exports


def run_analyst_query(settings: WarehouseSettings, query: str, fmt: str | None) -> str:
    """`fmt` None: the statement names its own format (a trailing FORMAT clause), printed as it comes."""
    client = connect_analyst(settings)
    try:
        if fmt is None:
            return bytes(client.raw_query(query)).decode()
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


def error_text(error: BaseException, settings: WarehouseSettings) -> str:
    """What to print for a failed statement: the warehouse's message (`Code: 62. DB::Exception: ...`), or that
    the warehouse did not answer, and why, instead of the HTTP library's account of its retries."""
    text = str(error).strip()
    wrapped = _WRAPPED.match(text)
    if wrapped:
        return wrapped["message"].strip()
    if isinstance(error, OperationalError):
        reason = _OS_ERROR.search(text)
        return f"the warehouse at {settings.address} did not answer ({reason[1] if reason else text})"
    return text


def statement_error_text(error: BaseException, settings: WarehouseSettings) -> str:
    """`error_text` for a statement run by `run_analyst_query`, whose echo of it is the analyst's own text."""
    return _APPENDED_FORMAT.sub("", error_text(error, settings))


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

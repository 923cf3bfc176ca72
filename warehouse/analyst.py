"""`tickettoken sql`: one statement as the read-only analyst, printed as a table, CSV or JSON lines."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import BinaryIO, cast

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError
from rich.console import Console
from rich.table import Table
from urllib3 import HTTPResponse
from urllib3.exceptions import HTTPError

from tickettoken.settings import WarehouseSettings
from warehouse.client import connect_analyst

_OS_ERROR = re.compile(r"\[Errno -?\d+\] ([^\"')]+)")  # why a connection failed, in urllib3's account
# clickhouse-connect's wrapping of the warehouse's own message, which alone says what went wrong.
_WRAPPED = re.compile(r"^.*?server response: (?P<message>.*?)(?: \(for url [^)]*\))?$", re.DOTALL)
# Formats for --format but the table (read as Native); none: the statement's own FORMAT clause.
_FORMATS = {"csv": "CSVWithNames", "json": "JSONEachRow"}
# The FORMAT clause clickhouse-connect appends to the statement for the formats used here: a syntax error's echo
# of the statement showed it to the analyst, who never wrote it.
_APPENDED_FORMAT = re.compile(r"\n FORMAT (?:" + "|".join(["Native", *_FORMATS.values()]) + r")\b")
TABLE_ROW_LIMIT = 10_000  # a terminal table of more rows helps nobody; use --format csv for exports
PIECE_BYTES = 1 << 16
# The tail of a streamed result is held back this long before it is printed: a statement that fails after its
# first rows went out ends its stream with the error (`Code: N. DB::Exception: ...`), which goes to stderr, not
# among the rows.
HELD_BYTES = 1 << 16


class StatementFailed(Exception):
    """The statement failed after its result had begun to stream; the message is the warehouse's."""


def run_analyst_query(settings: WarehouseSettings, query: str, fmt: str | None, out: BinaryIO) -> None:
    """Print the statement's result to `out`. `fmt` None: the statement names its own format (a trailing FORMAT
    clause), printed as it comes. CSV, JSON and a statement's own format stream: an export of any size needs no
    more memory than a piece of it, and the first rows show at once."""
    client = connect_analyst(settings)
    try:
        if fmt == "table":
            out.write(_table(client, query).encode())
            return
        # The synchronous client's answer (typed as either client's).
        response = cast("HTTPResponse", client.raw_stream(query, fmt=_FORMATS.get(fmt or "")))
        try:
            # Piece by piece as the server sent them: `read(n)` drops what it gathered when the stream breaks,
            # and with it the error at its end.
            copy_result(response.stream(PIECE_BYTES), out)
        finally:
            response.close()  # before the end (stdout closed, Ctrl-C): the warehouse stops the statement
    finally:
        client.close()


def copy_result(pieces: Iterator[bytes], out: BinaryIO) -> None:
    """Copy a streamed result to `out`, holding back its last HELD_BYTES until it ends; a stream broken by an error
    raises StatementFailed with it rather than print it as rows."""
    held = b""
    while True:
        try:
            piece = next(pieces, b"")
        except (HTTPError, OSError) as error:  # the response's, not `out`'s: a closed stdout is the caller's
            failed = held.rfind(b"\nCode: ")
            out.write(held[:failed] if failed >= 0 else held)
            if failed < 0:
                raise StatementFailed(f"the answer broke off before its end ({error})") from None
            raise StatementFailed(held[failed + 1 :].decode(errors="replace").strip()) from None
        if not piece:
            out.write(held)
            return
        held += piece
        if len(held) > 2 * HELD_BYTES:
            out.write(held[:-HELD_BYTES])
            held = held[-HELD_BYTES:]


def _table(client: Client, query: str) -> str:
    rows: list[tuple[object, ...]] = []
    with client.query_rows_stream(query) as stream:
        columns = list(stream.source.column_names)
        for row in stream:
            rows.append(tuple(row))
            if len(rows) > TABLE_ROW_LIMIT:
                break
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

"""Running one statement on a leased connection: the blocking halves, called from worker threads.

Each public function does all the engine work of one step in a single thread hop (prepare the connection,
classify, run), since a hop costs more than the work for small queries.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from warehouse.connection import EngineConnection
from warehouse.errors import (
    INTO_OUTFILE_NOT_ALLOWED,
    NOT_IMPLEMENTED,
    READONLY,
    SYNTAX_ERROR,
    WarehouseError,
    engine_errors,
)
from warehouse.framing import is_streamable
from warehouse.request import QueryRequest
from warehouse.sql_text import (
    code_words,
    first_keyword,
    has_clause,
    mentions_format,
    strip_leading_comments,
    trailing_format,
)
from warehouse.storage_defaults import pack_small_parts
from warehouse.unraised_failures import FAILURES, Counts

log = logging.getLogger("tickettoken.warehouse")

_ROWLESS_KEYWORDS = frozenset({"USE", "SET"})
# chDB streams SELECTs only; SHOW, DESCRIBE and the like are small and come back whole.
_STREAMING_KEYWORDS = frozenset({"SELECT", "WITH", ""})
_MUTATING_CLASSES = frozenset({"MUTATING", "MUTATING_GLOBAL"})
# Not classed as mutating by the engine, and let through by its readonly=1, but writing the server's disk (a
# backup) or its tables (a restore): the read-only analyst may do neither.
_FILE_WRITING_KEYWORDS = frozenset({"BACKUP", "RESTORE"})
# Let through by readonly=1 too: SYSTEM acts on the whole engine (`SYSTEM STOP MERGES` stopped every merge, and
# parts piled up under ingest until inserts failed) and UNDROP brings back a table dropped in the last minutes, so
# not for the read-only analyst either. (KILL: tracker.py.)
_NOT_FOR_READONLY_KEYWORDS = _FILE_WRITING_KEYWORDS | {"SYSTEM", "UNDROP"}
# Statements that change something and answer rows, as ClickHouse does (KILL: the queries; BACKUP and RESTORE:
# the operation's id and status).
_ROW_ANSWERING_COMMANDS = frozenset({"KILL", "BACKUP", "RESTORE"})
# A BACKUP or RESTORE left running in the engine's background (`ASYNC`, or its setting `async`): while it ran, every
# other query failed with code 216, as the engine's process list held it under the one id chDB gives its queries,
# so the service answered 503 throughout (measured). Refused; without ASYNC it runs beside the service's queries.
_FOREGROUND = (["0"], ["FALSE"])  # what may follow the word ASYNC: the setting turned off
_CLAUSE_WORDS = re.compile("OUTFILE|ASYNC", re.IGNORECASE)
# Where a syntax error points: "failed at position N", "'(' at position N" (unmatched), and "(line 1, col N)" in a
# statement of several lines. Not any "position N": the excerpt of the statement that follows may hold one.
_POSITION = re.compile(r"((?:failed|'.') at position |\(line 1, col )(\d+)")


@dataclass
class Outcome:
    """What a started statement produced: a whole result, a stream to read, or nothing but a summary."""

    returns_rows: bool
    fmt: str | None = None
    data: bytes = b""
    stream: Any = None
    head: list[bytes] = field(default_factory=list)  # chunks of a stream read ahead, not yet sent
    rows: int = 0
    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0

    def summary(self, elapsed_ns: int) -> str:
        return json.dumps(
            {
                "read_rows": str(self.read_rows),
                "read_bytes": str(self.read_bytes),
                "written_rows": str(self.written_rows),
                "written_bytes": str(self.written_bytes),
                "total_rows_to_read": str(self.read_rows),
                "result_rows": str(self.rows),
                "result_bytes": str(len(self.data) + sum(len(c) for c in self.head)),
                "elapsed_ns": str(elapsed_ns),
            },
            separators=(",", ":"),
        )


def _check(conn: EngineConnection, req: QueryRequest, sql: str) -> tuple[str, str]:
    info = conn.classify(sql)
    if info["statement_count"] > 1:
        raise WarehouseError(SYNTAX_ERROR, "Multi-statements are not allowed: send one statement per request")
    query_class = getattr(info["query_class"], "name", str(info["query_class"]))
    if req.method == "GET" and query_class in _MUTATING_CLASSES:
        raise WarehouseError(
            READONLY,
            "Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. "
            "You should use method POST for modifying queries",
        )
    keyword = first_keyword(sql)
    if (req.readonly and query_class in _MUTATING_CLASSES) or (req.readonly == 1 and keyword == "SET"):
        raise WarehouseError(READONLY, "Cannot execute query in readonly mode")
    if (req.readonly or conn.readonly) and keyword in _NOT_FOR_READONLY_KEYWORDS:
        raise WarehouseError(READONLY, f"Cannot execute {keyword} in readonly mode")
    # The word-by-word scan only for the statements that name the word at all: it is a Python loop per character.
    words = code_words(sql) if _CLAUSE_WORDS.search(sql) else []
    if has_clause(words, "INTO", "OUTFILE"):
        # A client's clause, which ClickHouse refuses over HTTP; the embedded engine wrote the file on the server,
        # anywhere the server may write, even for the read-only analyst.
        raise WarehouseError(INTO_OUTFILE_NOT_ALLOWED, "INTO OUTFILE is not allowed")
    if keyword in _FILE_WRITING_KEYWORDS and any(
        word == "ASYNC" and words[at + 1 : at + 2] not in _FOREGROUND for at, word in enumerate(words)
    ):
        raise WarehouseError(
            NOT_IMPLEMENTED,
            f"{keyword} ... ASYNC is not supported by the embedded warehouse: while it runs, every other query"
            f" fails (code 216). Leave out ASYNC: {keyword} runs beside the service's queries",
        )
    return query_class, keyword


@contextlib.contextmanager
def _positions_in_sent_text(prefix: str) -> Iterator[None]:
    """The engine parses `prefix + sql` (tracker.py's marker), so a syntax error's position counts the marker too.
    Moved back by its length, the position points into what the client sent, as ClickHouse's does."""
    try:
        yield
    except WarehouseError as error:
        if error.code != SYNTAX_ERROR:
            raise
        moved = _POSITION.sub(lambda m: f"{m[1]}{max(1, int(m[2]) - len(prefix))}", error.message)
        raise WarehouseError(error.code, moved, http_status=error.http_status) from None


def start_statement(conn: EngineConnection, req: QueryRequest, sql: str, prefix: str) -> Outcome:
    """Run or start `sql`. Row results in streamable formats come back as an open stream."""
    with _positions_in_sent_text(prefix):
        return _start_statement(conn, req, sql, prefix)


def _start_statement(conn: EngineConnection, req: QueryRequest, sql: str, prefix: str) -> Outcome:
    conn.prepare(req.database, req.settings)
    query_class, keyword = _check(conn, req, sql)
    marked = prefix + sql
    if keyword in _ROWLESS_KEYWORDS:
        if req.session_id is None:
            _for_this_request_only(conn, req, sql, keyword, marked)
        else:
            conn.before_control_statement()
            conn.query(marked, "TabSeparated", req.bindings)
            conn.after_control_statement()
        return Outcome(returns_rows=False)
    # UNKNOWN is SQL that does not parse: the engine's own error says why, from the row path as from any.
    if query_class not in ("READ_ONLY", "UNKNOWN") and keyword not in _ROW_ANSWERING_COMMANDS:
        result = conn.query(marked, "TabSeparated", req.bindings)
        if keyword == "CREATE":
            _apply_storage_defaults(conn)
            if req.session_id is None:  # a temporary table lives in its session, or without one in its request
                conn.drop_temporary_tables()
        return Outcome(returns_rows=False, written_rows=result.rows_written(), written_bytes=result.bytes_written())
    explicit = trailing_format(sql)
    fmt = explicit[1] if explicit else req.default_format
    if keyword in _STREAMING_KEYWORDS and is_streamable(fmt) and (explicit is not None or not mentions_format(sql)):
        stream = conn.stream(marked, fmt, req.bindings)
        # Read ahead two chunks in this same thread hop: most results fit in one, and are then answered
        # whole (with a Content-Length), skipping the streaming path's extra hops.
        head: list[tuple[bytes, int]] = []
        try:
            while len(head) < 2 and (chunk := conn.fetch(stream)) is not None:
                head.append(chunk)
        except WarehouseError:
            _close_quietly(conn, stream)
            raise
        if len(head) < 2:
            data, rows = head[0] if head else (b"", 0)
            return Outcome(returns_rows=True, fmt=fmt, data=data, rows=rows)
        return Outcome(
            returns_rows=True, fmt=fmt, stream=stream, head=[c[0] for c in head], rows=sum(c[1] for c in head)
        )
    result = conn.query(marked, fmt, req.bindings)
    return Outcome(
        returns_rows=True,
        fmt=fmt,
        data=result.bytes(),
        rows=result.rows_read(),
        read_rows=result.storage_rows_read(),
        read_bytes=result.storage_bytes_read(),
    )


def _for_this_request_only(conn: EngineConnection, req: QueryRequest, sql: str, keyword: str, marked: str) -> None:
    """SET or USE without a session: as in ClickHouse, it lasts for its own request, so the engine checks it and the
    pooled connection keeps its state for the next request (on it, `SET readonly = 1` could never be undone)."""
    if keyword == "SET":
        assignments = strip_leading_comments(sql)[len("SET") :].strip().rstrip(";")
        conn.query(f"SELECT 1 SETTINGS {assignments}", "TabSeparated", req.bindings)  # names and values checked
    else:
        conn.query(marked, "TabSeparated", req.bindings)  # the database must exist
        conn.back_to_own_database()


def _apply_storage_defaults(conn: EngineConnection) -> None:
    """After a CREATE: the table it made gets the engine's MergeTree default (`storage_defaults.py`). The CREATE
    has succeeded either way, so a failure to even list the tables is logged, not answered."""
    try:
        pack_small_parts(conn)
    except WarehouseError as error:
        log.warning("could not give new tables the packed-parts default: %s", error)


def _close_quietly(conn: EngineConnection, stream: Any) -> None:
    with contextlib.suppress(WarehouseError):
        conn.cancel(stream)


def close_stream(conn: EngineConnection, stream: Any, *, finished: bool) -> None:
    """Release a stream; one not read to its end is cancelled so the connection is free again."""
    if not finished:
        _close_quietly(conn, stream)


@dataclass
class InsertProgress:
    """A streaming INSERT: the body's chunks are decoded and appended as they arrive."""

    inserter: Any
    conn: EngineConnection
    baseline: Counts  # the engine's write failures when it began (unraised_failures.py)

    def append(self, data: bytes) -> None:
        try:
            with engine_errors():
                self.inserter.append(data)
        except WarehouseError:
            self.abort()
            raise

    def finish(self, last: bytes = b"") -> Outcome:
        """Append `last` (when there is any) and commit."""
        if last:
            self.append(last)
        with engine_errors():
            result = self.inserter.finish()
        FAILURES.check(self.conn, self.baseline)  # what finish() did not raise
        return Outcome(returns_rows=False, written_rows=result.rows_written, written_bytes=result.bytes_written)

    def abort(self) -> None:
        try:
            self.inserter.cancel()
        except RuntimeError:  # cancelling is best effort; the original error is what matters
            return


def start_insert(conn: EngineConnection, req: QueryRequest, statement: str, fmt: str, prefix: str) -> InsertProgress:
    conn.prepare(req.database, req.settings)
    _check(conn, req, statement)
    baseline = FAILURES.baseline(conn)
    with _positions_in_sent_text(prefix):
        return InsertProgress(inserter=conn.insert(prefix + statement, fmt), conn=conn, baseline=baseline)

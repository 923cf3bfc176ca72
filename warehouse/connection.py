"""One chDB connection and the state this server keeps for it: database and per-query settings.

Real ClickHouse scopes the settings of an HTTP request to that one query. A chDB connection keeps
`SET` values until changed, so before each query the connection is brought to exactly the settings the
request asked for, and settings a previous request changed go back to what they were before it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import chdb
from chdb.state.sqlitelike import StreamingInserter

from warehouse.errors import UNKNOWN_SETTING, WarehouseError, engine_errors
from warehouse.sql_text import quote_literal

_SETTING_VALUES_SQL = "SELECT name, value, changed FROM system.settings WHERE has({names:Array(String)}, name)"
# The server's own queries run on a connection that holds a request's settings (or a session's own SETs); these
# would change what they read back: extra rows (`extremes`), fewer (`limit`, `offset`, `max_result_rows`), or none.
_AS_READ_BY_THE_SERVER = (
    "extremes", "limit", "offset", "max_result_rows", "max_result_bytes", "max_rows_to_read", "max_bytes_to_read",
    "max_execution_time",
)  # fmt: skip
# Classifying is parsing alone, so its result depends on the text only, and clients send the same texts over and
# over (their parameters apart): an INSERT's classification cost 0.6-0.9 ms of the ~7-10 ms of CPU a 35-row INSERT
# cost the embedded warehouse. Shared by every connection; bounded, it starts over when full.
_CLASSIFIED: dict[str, dict[str, Any]] = {}
_CLASSIFIED_MAX_ENTRIES = 1024
_CLASSIFIED_MAX_CHARS = 4096


def quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


class EngineConnection:
    """A chDB connection. One request holds it at a time; different connections run in parallel."""

    def __init__(self, connection_string: str, *, readonly: bool) -> None:
        self._conn = chdb.connect(connection_string)
        self.readonly = readonly
        self.home_database = "default"
        self._database = "default"
        self._overrides: dict[str, str] = {}
        # What each setting this server changed was before the change: a value, or None for DEFAULT.
        self._originals: dict[str, str | None] = {}

    def close(self) -> None:
        self._conn.close()

    # -- state ---------------------------------------------------------------------------------------
    def prepare(self, database: str | None, settings: Mapping[str, str]) -> None:
        """Bring the connection to `database` (or its home database) and exactly `settings`."""
        wanted_db = database or self.home_database
        if wanted_db != self._database:
            self._run(f"USE {quote_identifier(wanted_db)}")
            self._database = wanted_db
        self._apply_settings(settings)

    def _apply_settings(self, wanted: Mapping[str, str]) -> None:
        if wanted == self._overrides:
            return
        unknown = [name for name in wanted if name not in self._originals]
        if unknown:
            self._remember_originals(unknown)
        changes = [f"{name} = {self._literal(self._originals[name])}" for name in self._overrides if name not in wanted]
        changes += [
            f"{name} = {quote_literal(value)}" for name, value in wanted.items() if self._overrides.get(name) != value
        ]
        try:
            self._run("SET " + ", ".join(changes))
        except WarehouseError:
            self._reset_settings()
            raise
        self._overrides = dict(wanted)

    @staticmethod
    def _literal(original: str | None) -> str:
        return "DEFAULT" if original is None else quote_literal(original)

    def _remember_originals(self, names: list[str]) -> None:
        # Not neutralized for the reading: a setting whose own value is being read.
        rows = self.internal(_SETTING_VALUES_SQL, "TabSeparated", {"names": _array_param(names)}, reading=names)
        found: dict[str, str | None] = {}
        for line in rows.bytes().decode().splitlines():
            name, value, changed = line.split("\t")
            found[name] = value if changed == "1" else None
        for name in names:
            if name not in found:
                raise WarehouseError(UNKNOWN_SETTING, f"Unknown setting '{name}'")
        self._originals.update(found)

    def _reset_settings(self) -> None:
        """After a failed SET: put back every setting this server touched, one at a time."""
        for name in list(self._overrides) + [n for n in self._originals if n not in self._overrides]:
            try:
                self._run(f"SET {name} = {self._literal(self._originals.get(name))}")
            except WarehouseError:
                continue
        self._overrides = {}

    def drop_temporary_tables(self) -> None:
        """Drop the temporary tables this connection holds (for a pooled one: made by a request without a session,
        which the next request on it must not see)."""
        names = self.internal("SELECT name FROM system.tables WHERE is_temporary", "TabSeparated", {})
        for name in names.bytes().decode().splitlines():
            self._run(f"DROP TEMPORARY TABLE IF EXISTS {quote_identifier(name)}")

    def back_to_own_database(self) -> None:
        """After a USE that was the request's own: the database this connection was in before it."""
        self._run(f"USE {quote_identifier(self._database)}")

    def before_control_statement(self) -> None:
        """A user's own SET or USE changes the baseline: drop request overrides first, forget originals after."""
        self._apply_settings({})

    def after_control_statement(self) -> None:
        self._originals.clear()
        current = self.internal("SELECT currentDatabase()", "TabSeparated", {}).bytes().decode().strip()
        self.home_database = self._database = current

    # -- execution -----------------------------------------------------------------------------------
    def _run(self, sql: str) -> Any:
        return self.query(sql, "TabSeparated", {})

    def query(self, sql: str, fmt: str, params: Mapping[str, str]) -> Any:
        """Run a statement to completion; the result holds all its output."""
        with self._leaving_nothing_behind():
            return self._conn.query(sql, fmt, params=dict(params))

    def internal(self, sql: str, fmt: str, params: Mapping[str, str], *, reading: Iterable[str] = ()) -> Any:
        """A query of the server's own (`sql` without SETTINGS or FORMAT), read back whole whatever settings the
        connection holds for its request or session (but those named in `reading`). A read-only connection holds
        none (its user may change no setting), and may not name any."""
        kept = set(reading)
        neutral = [f"{name} = 0" for name in _AS_READ_BY_THE_SERVER if name not in kept]
        if self.readonly or not neutral:
            return self.query(sql, fmt, params)
        return self.query(f"{sql} SETTINGS {', '.join(neutral)}", fmt, params)

    def stream(self, sql: str, fmt: str, params: Mapping[str, str]) -> Any:
        """Start a streaming query; read it with `fetch` until None, or stop it with `cancel`."""
        with self._leaving_nothing_behind():
            return self._conn._conn.send_query(sql, fmt, params=dict(params))

    def fetch(self, handle: Any) -> tuple[bytes, int] | None:
        """The next chunk of a stream as (bytes, rows), or None at its end."""
        with self._leaving_nothing_behind():
            result = self._conn._conn.streaming_fetch_result(handle)
        if result is None:
            return None
        data, rows = result.bytes(), result.rows_read()
        if not data and rows == 0:
            return None
        return data, rows

    @contextlib.contextmanager
    def _leaving_nothing_behind(self) -> Iterator[None]:
        """Engine errors as WarehouseErrors; and after one, a throwaway query on this connection. chDB keeps what a
        failed query's output format had written before the failure (the header of an Arrow, ArrowStream or
        Parquet result) and hands it out at the head of the next result on the same connection, whoever asks."""
        try:
            with engine_errors():
                yield
        except WarehouseError:
            with contextlib.suppress(RuntimeError):
                self._conn.query("SELECT 1", "TabSeparated")
            raise

    def cancel(self, handle: Any) -> None:
        with engine_errors():
            self._conn._conn.streaming_cancel_query(handle)

    def insert(self, statement: str, fmt: str) -> StreamingInserter:
        with engine_errors():
            return self._conn.send_insert(statement, fmt)

    def classify(self, sql: str) -> dict[str, Any]:
        """What kind of statement `sql` is, and how many there are (parsed once per distinct text: see
        `_CLASSIFIED`)."""
        known = _CLASSIFIED.get(sql)
        if known is not None:
            return known
        result: dict[str, Any] = self._conn._conn.classify_query(sql)
        if len(sql) <= _CLASSIFIED_MAX_CHARS:
            if len(_CLASSIFIED) >= _CLASSIFIED_MAX_ENTRIES:
                _CLASSIFIED.clear()
            _CLASSIFIED[sql] = result
        return result


def _array_param(values: list[str]) -> str:
    return "[" + ",".join(quote_literal(v) for v in values) + "]"

"""Write failures the engine counts but does not raise.

chDB's streaming INSERT (`send_insert`, `append`, `finish`) raises what goes wrong while it parses the rows, but
not what goes wrong in the table's own write: measured with chDB 4.4, a full disk (`Cannot reserve 3.43 MiB, not
enough space`), too many parts, and a violated CHECK constraint each left `finish()` returning normally, with rows
counted as written and nothing stored. An INSERT answered 200 for rows that were lost is the one answer this
server must never give (the API acknowledges ingest on it).

The engine does count each of those errors in `system.errors`. So every streaming INSERT, once finished, reads the
counts of the errors a table's write can fail with (below), and if any grew since the last time they were read,
the INSERT fails with that error. The error may have been another write's (one finishing at the same moment, a
background merge short of disk): that INSERT then fails without cause, which costs its client a retry (ingest's
idempotency makes a retry harmless), and only while writes are failing anyway. Errors a statement of its own can
cause in normal use (a syntax error, a memory limit, a cancelled query) are not among them: they would fail every
INSERT that finished beside an analyst's mistake.
"""

from __future__ import annotations

import threading

from warehouse.connection import EngineConnection
from warehouse.errors import WarehouseError

# ClickHouse's codes for a part that could not be written, by name (system.errors lists them).
WRITE_FAILURES = {
    75: "CANNOT_WRITE_TO_FILE_DESCRIPTOR",
    76: "CANNOT_OPEN_FILE",
    77: "CANNOT_CLOSE_FILE",
    88: "CANNOT_TRUNCATE_FILE",
    172: "CANNOT_CREATE_DIRECTORY",
    204: "CANNOT_FSYNC",
    235: "DUPLICATE_DATA_PART",
    242: "TABLE_IS_READ_ONLY",
    243: "NOT_ENOUGH_SPACE",
    252: "TOO_MANY_PARTS",
    294: "CANNOT_WRITE_TO_FILE",
    425: "SYSTEM_ERROR",
    469: "VIOLATED_CONSTRAINT",
    504: "FILE_ALREADY_EXISTS",
    565: "TOO_MANY_PARTITIONS",
}
# Read after every streaming INSERT, so the cheapest form measured in-process: the counts alone, unfiltered, picked
# out here (the table lists only the errors that happened: a few rows). In-process p50s with chDB 4.4: 0.81-0.90 ms
# against 1.08-1.21 filtered by `code IN (...)`, 1.04-1.33 by `code < 600`, more with a GROUP BY or the
# messages; `SELECT 1`: 0.60-0.66.
_COUNTS_SQL = "SELECT code, value FROM system.errors"
_MESSAGE_SQL = "SELECT last_error_message FROM system.errors WHERE code = {code:Int32} AND NOT remote"

Counts = dict[int, int]


class UnraisedFailures:
    """The engine's counts of write failures as last read; one per engine (counts are per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: Counts | None = None

    def baseline(self, conn: EngineConnection) -> Counts:
        """The counts an INSERT starting now compares against: as last read (read now the first time)."""
        with self._lock:
            seen = self._seen
        return seen if seen is not None else self._read(conn)

    def check(self, conn: EngineConnection, since: Counts) -> None:
        """Raise the write failure the engine counted since `since` without raising it, if there is one."""
        grown = [code for code, value in self._read(conn).items() if value > since.get(code, 0)]
        if grown:
            result = conn.internal(_MESSAGE_SQL, "TabSeparated", {"code": str(grown[0])})
            message = result.bytes().decode().strip() or WRITE_FAILURES[grown[0]]
            raise WarehouseError(grown[0], f"{message} (counted while this INSERT ran: it may not be stored; retry)")

    def _read(self, conn: EngineConnection) -> Counts:
        result = conn.internal(_COUNTS_SQL, "TabSeparated", {})
        counts: Counts = {}
        for line in result.bytes().decode().splitlines():  # a row for local errors, one for remote ones
            code, value = map(int, line.split("\t"))
            if code in WRITE_FAILURES:
                counts[code] = counts.get(code, 0) + value
        with self._lock:
            latest = self._seen or {}
            self._seen = {code: max(value, latest.get(code, 0)) for code, value in {**latest, **counts}.items()}
        return counts


FAILURES = UnraisedFailures()  # the engine is one per process, and so are its counts

"""Queries in flight: their ids, cancelling them, and enforcing the analyst's limits from outside.

chDB assigns its own query ids, so each statement is sent with a marker comment naming this server's id
and a query is found in `system.processes` by that marker. An analyst could lift `max_execution_time` or
`max_memory_usage` with a `SETTINGS` clause (chDB's readonly=1 does not forbid that), so a watchdog kills
analyst queries over the configured limits whatever their settings say.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field

from warehouse.connection import EngineConnection
from warehouse.errors import QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING, READONLY, WarehouseError
from warehouse.sql_text import strip_leading_comments

log = logging.getLogger("tickettoken.warehouse")

_PROCESSES_SQL = (
    "SELECT extract(query, '^/\\\\* tt:([0-9a-f]+) \\\\*/') AS marker, elapsed, memory_usage "
    "FROM system.processes WHERE startsWith(query, '/* tt:')"
)
_KILL_SQL = "KILL QUERY WHERE startsWith(query, {prefix:String}) ASYNC"
# How clients cancel a query of theirs (the Node client, the JDBC driver): by the id they gave it, which the engine
# does not know (chDB gives its queries its own). The mode and FORMAT after it are kept. No nested quantifiers.
_KILL_BY_ID = re.compile(
    r"KILL\s+QUERY\s+WHERE\s+query_id\s*=\s*'([^'\\]*)'((?:\s+(?:SYNC|ASYNC|TEST))?(?:\s+FORMAT\s+\w+)?)\s*;?\s*",
    re.IGNORECASE,
)


@dataclass
class TrackedQuery:
    query_id: str
    user: str
    limited: bool
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.monotonic)
    killed_reason: str | None = None

    @property
    def prefix(self) -> str:
        """The comment that starts the statement as the engine sees it."""
        return f"/* tt:{self.marker} */ "


class QueryTracker:
    def __init__(self, control: EngineConnection, *, max_execution_time: float, max_memory_usage: int) -> None:
        self._control = control
        self._control_lock = threading.Lock()
        self._by_id: dict[str, TrackedQuery] = {}
        self._max_time = max_execution_time
        self._max_memory = max_memory_usage

    def start(self, query_id: str, user: str, *, limited: bool) -> TrackedQuery:
        if query_id in self._by_id:
            raise WarehouseError(
                QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING, f"Query with id = {query_id} is already running."
            )
        tracked = TrackedQuery(query_id=query_id, user=user, limited=limited)
        self._by_id[query_id] = tracked
        return tracked

    def finish(self, tracked: TrackedQuery) -> None:
        self._by_id.pop(tracked.query_id, None)

    def kill_statement(self, sql: str, user: str, *, readonly: bool) -> str:
        """A KILL statement as the engine is to run it. `KILL QUERY WHERE query_id = '<id>'` is put in terms of that
        query's marker (the read-only analyst's own queries only: another's id is a query not found, no rows). Any
        other KILL reaches the engine as sent, but for the analyst, who may not stop the service's queries."""
        found = _KILL_BY_ID.fullmatch(strip_leading_comments(sql))
        if found is None:
            if readonly:
                raise WarehouseError(
                    READONLY,
                    "Cannot execute KILL in readonly mode, but for a query of one's own, by its id: KILL QUERY WHERE"
                    " query_id = '...'",
                )
            return sql
        target = self._by_id.get(found[1])
        if target is None or (readonly and target.user != user):
            return f"KILL QUERY WHERE 0{found[2]}"
        if "TEST" not in found[2].upper().split():  # TEST only asks: the query runs on, still watched for its limits
            target.killed_reason = f"KILL QUERY by {user}"
            log.info("killing query_id=%s user=%s at the request of %s", target.query_id, target.user, user)
        return f"KILL QUERY WHERE startsWith(query, '{target.prefix}'){found[2]}"

    def kill(self, tracked: TrackedQuery, reason: str) -> None:
        """Cancel a running statement (blocking; call from a worker thread)."""
        tracked.killed_reason = reason
        with self._control_lock:
            self._control.query(_KILL_SQL, "TabSeparated", {"prefix": tracked.prefix})
        log.info("killed query_id=%s user=%s reason=%s", tracked.query_id, tracked.user, reason)

    def _over_limits(self) -> list[tuple[TrackedQuery, str]]:
        by_marker = {t.marker: t for t in self._by_id.values() if t.limited}
        if not by_marker:
            return []
        with self._control_lock:
            rows = self._control.query(_PROCESSES_SQL, "TabSeparated", {}).bytes().decode().splitlines()
        found: list[tuple[TrackedQuery, str]] = []
        for row in rows:
            marker, elapsed, memory = row.split("\t")
            tracked = by_marker.get(marker)
            if tracked is None or tracked.killed_reason:
                continue
            if float(elapsed) > self._max_time:
                found.append((tracked, f"over max_execution_time {self._max_time:g}s"))
            elif int(memory) > self._max_memory:
                found.append((tracked, f"over max_memory_usage {self._max_memory}"))
        return found

    async def watch(self, interval: float = 0.5) -> None:
        """Run until cancelled: kill limited queries that outgrew their limits."""
        while True:
            await asyncio.sleep(interval)
            if not any(t.limited for t in self._by_id.values()):
                continue
            try:
                for tracked, reason in await asyncio.to_thread(self._over_limits):
                    await asyncio.to_thread(self.kill, tracked, reason)
            except WarehouseError as error:
                log.warning("watchdog: %s", error.message)

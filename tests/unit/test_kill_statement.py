"""KILL statements as the warehouse server hands them to the engine (warehouse/tracker.py)."""

from __future__ import annotations

from typing import cast

import pytest

from warehouse.connection import EngineConnection
from warehouse.errors import WarehouseError
from warehouse.tracker import QueryTracker


def _tracker() -> QueryTracker:
    # The engine connection is only for the tracker's own kills and its watchdog, neither of which runs here.
    return QueryTracker(cast("EngineConnection", None), max_execution_time=5, max_memory_usage=1 << 30)


def test_a_kill_by_id_names_the_querys_marker_and_keeps_its_mode() -> None:
    tracker = _tracker()
    mine = tracker.start("q-1", "analyst", limited=True)
    theirs = tracker.start("q-2", "default", limited=False)
    rewritten = tracker.kill_statement("KILL QUERY WHERE query_id = 'q-1' SYNC", "analyst", readonly=True)
    assert rewritten == f"KILL QUERY WHERE startsWith(query, '{mine.prefix}') SYNC"
    assert mine.killed_reason == "KILL QUERY by analyst"
    # Another user's query, or an unknown id: a query not found, as ClickHouse answers it.
    assert tracker.kill_statement("KILL QUERY WHERE query_id = 'q-2'", "analyst", readonly=True) == "KILL QUERY WHERE 0"
    assert tracker.kill_statement("kill query where query_id='nope' ASYNC", "default", readonly=False) == (
        "KILL QUERY WHERE 0 ASYNC"
    )
    assert theirs.killed_reason is None
    with pytest.raises(WarehouseError, match="Cannot execute KILL in readonly mode"):
        tracker.kill_statement("KILL QUERY WHERE 1", "analyst", readonly=True)
    assert tracker.kill_statement("KILL QUERY WHERE 1", "default", readonly=False) == "KILL QUERY WHERE 1"


def test_a_kill_that_only_tests_leaves_the_query_watched() -> None:
    """`KILL ... TEST` kills nothing, yet it marked the query as killed, which the watchdog then passes over."""
    tracker = _tracker()
    tested = tracker.start("q-1", "analyst", limited=True)
    rewritten = tracker.kill_statement("KILL QUERY WHERE query_id = 'q-1' TEST", "analyst", readonly=True)
    assert rewritten == f"KILL QUERY WHERE startsWith(query, '{tested.prefix}') TEST"
    assert tested.killed_reason is None

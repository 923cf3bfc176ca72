"""The live views' in-memory cache: answers at most a second old, refreshed ahead while they are asked for."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace

import msgspec
import pytest

from api.auth.keys import ApiKey, Scope
from api.realtime import services
from api.realtime.cache import ANSWER_SECONDS, REFRESH_AFTER_SECONDS, LiveCache


class Answer(msgspec.Struct):
    value: int


def test_an_answer_asked_for_late_in_its_life_is_refreshed_once_in_the_background() -> None:
    cache = LiveCache(None)
    computed = []

    def compute() -> Answer:
        computed.append(1)
        return Answer(len(computed))

    assert cache.answer("k", compute) == b'{"value":1}'
    assert cache.peek("k") == (b'{"value":1}', False), "young: served as it is"
    time.sleep(REFRESH_AFTER_SECONDS + 0.05)
    assert cache.peek("k") == (b'{"value":1}', True), "late in its life: this caller refreshes it"
    assert cache.peek("k") == (b'{"value":1}', False), "only one caller is told to"
    cache.refresh("k", compute)
    assert cache.peek("k") == (b'{"value":2}', False)
    time.sleep(ANSWER_SECONDS + 0.05)
    assert cache.peek("k") is None, "never older than a second"
    assert cache.answer("k", compute) == b'{"value":3}'


class _Warehouse:
    """Answers the events query (events e1, e2 and e3), noting the ids of each read."""

    def __init__(self) -> None:
        self.reads: list[list[str]] = []

    def query(self, sql: str, parameters: dict[str, list[str]]) -> SimpleNamespace:
        self.reads.append(sorted(parameters["event_ids"]))
        return SimpleNamespace(
            result_rows=[
                (event_id, "org-1", 10, "EUR", ["GA"], [10], "UTC", 0)
                for event_id in parameters["event_ids"]
                if event_id in {"e1", "e2", "e3"}
            ]
        )


def _reads_reach(warehouse: _Warehouse, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(warehouse.reads) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # and no more come
    assert len(warehouse.reads) == count, warehouse.reads


def test_events_due_are_read_again_in_the_background_together_and_never_kept_past_twice_their_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services, "EVENT_SECONDS", 0.3)
    monkeypatch.setattr(services, "EVENT_GATHER_SECONDS", 0.2)
    warehouse = _Warehouse()
    service = services.RealtimeService(lambda: warehouse, tallies=None)  # type: ignore[arg-type,return-value]
    anyone = ApiKey("k", "reader", frozenset({Scope.READ}), None, datetime.now(UTC), None)
    other = ApiKey("k2", "other", frozenset({Scope.READ}), "org-2", datetime.now(UTC), None)
    assert service.cached_event("e1", anyone) is None, "never read yet"
    for event_id in ("e1", "e2", "e3"):
        service.event(event_id, anyone)
    assert warehouse.reads == [["e1"], ["e2"], ["e3"]]
    assert service.cached_event("e1", anyone) == service.event_info("e1")
    assert service.cached_event("e1", other) is None, "another organizer's key"
    with pytest.raises(services.UnknownEvent):
        service.event_info("e4")
    warehouse.reads.clear()

    time.sleep(0.35)
    assert service.cached_event("e1", anyone) is not None, "past EVENT_SECONDS: still used while it is read again"
    assert service.event_info("e2") is not None, "by every caller (the route's checks, the pushes)"
    time.sleep(0.05)
    for _ in range(10):  # busy events, asked for until their read is done
        assert [service.cached_event(e, anyone) is not None for e in ("e1", "e2", "e3")] == [True, True, True]
    _reads_reach(warehouse, 1)
    assert warehouse.reads == [["e1", "e2", "e3"]], "the events due within the gathering time: one query, none before"
    assert service.cached_event("e2", anyone) == service.event_info("e2"), "fresh again: no read"
    assert len(warehouse.reads) == 1

    time.sleep(0.65)
    assert service.cached_event("e1", anyone) is None, "past twice EVENT_SECONDS: read again in the foreground"

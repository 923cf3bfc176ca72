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
    """Answers the event query, counting the reads."""

    def __init__(self) -> None:
        self.reads = 0

    def query(self, sql: str, parameters: dict[str, str]) -> SimpleNamespace:
        self.reads += 1
        return SimpleNamespace(result_rows=[(parameters["event_id"], "org-1", 10, "EUR", ["GA"], [10], "UTC", 0)])


def test_an_event_is_reread_in_the_background_once_and_never_kept_past_twice_its_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services, "EVENT_SECONDS", 0.2)
    warehouse = _Warehouse()
    service = services.RealtimeService(lambda: warehouse, tallies=None)  # type: ignore[arg-type,return-value]
    anyone = ApiKey("k", "reader", frozenset({Scope.READ}), None, datetime.now(UTC), None)
    other = ApiKey("k2", "other", frozenset({Scope.READ}), "org-2", datetime.now(UTC), None)
    assert service.cached_event("e1", anyone) is None, "never read yet"
    service.event("e1", anyone)
    assert service.cached_event("e1", anyone) == (service.event_info("e1"), False)
    assert service.cached_event("e1", other) is None, "another organizer's key"
    time.sleep(0.25)
    first, second = service.cached_event("e1", anyone), service.cached_event("e1", anyone)
    assert first is not None and first[1] is True, "past EVENT_SECONDS: still used, and this caller re-reads"
    assert second is not None and second[1] is False, "only one caller is told to"
    service.reread_event("e1")
    assert warehouse.reads == 2 and service.cached_event("e1", anyone) == (service.event_info("e1"), False)
    time.sleep(0.45)
    assert service.cached_event("e1", anyone) is None, "past twice EVENT_SECONDS: read again in the foreground"

"""The live views' in-memory cache: answers at most a second old, refreshed ahead while they are asked for."""

from __future__ import annotations

import time

import msgspec

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
    assert cache.peek("k") == (b'{"value":1}', True), "past half its life: this caller refreshes it"
    assert cache.peek("k") == (b'{"value":1}', False), "only one caller is told to"
    cache.refresh("k", compute)
    assert cache.peek("k") == (b'{"value":2}', False)
    time.sleep(ANSWER_SECONDS + 0.05)
    assert cache.peek("k") is None, "never older than a second"
    assert cache.answer("k", compute) == b'{"value":3}'

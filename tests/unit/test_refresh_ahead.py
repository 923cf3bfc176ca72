"""Background re-reads of cached entries (api/refresh_ahead.py): batched, never two of one key at once, and a
failed read neither stops the next nor is retried in a loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

import api.refresh_ahead
from api.refresh_ahead import RefreshAhead


def _wait_for(condition: threading.Event, what: str) -> None:
    assert condition.wait(5), f"timed out waiting for {what}"


def test_keys_asked_for_during_a_read_are_read_together_after_it_once_each() -> None:
    batches: list[list[str]] = []
    first_started, release, second_done = threading.Event(), threading.Event(), threading.Event()

    def read(keys: Sequence[str]) -> None:
        batches.append(sorted(keys))
        if len(batches) == 1:
            first_started.set()
            _wait_for(release, "the test to release the first read")
        else:
            second_done.set()

    refresher = RefreshAhead[str](read, "test-refresh")
    refresher.request(["a"])
    _wait_for(first_started, "the first read")
    for _ in range(50):  # the busy requests of a hot key while it is being read
        refresher.request(["a", "b"])
    refresher.request(["c"])
    release.set()
    _wait_for(second_done, "the second read")
    assert batches == [["a"], ["b", "c"]]


def test_a_failed_read_is_logged_and_later_requests_are_still_read(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(api.refresh_ahead, "RETRY_SECONDS", 0.2)
    attempts: list[tuple[float, list[str]]] = []
    succeeded = threading.Event()

    def read(keys: Sequence[str]) -> None:
        attempts.append((time.monotonic(), list(keys)))
        if len(attempts) == 1:
            raise ConnectionError("the warehouse is down")
        succeeded.set()

    refresher = RefreshAhead[str](read, "test-refresh")
    deadline = time.monotonic() + 5
    while not succeeded.is_set() and time.monotonic() < deadline:  # a busy key is asked for all the time
        refresher.request(["a"])
        time.sleep(0.005)
    assert [keys for _, keys in attempts] == [["a"], ["a"]]
    assert attempts[1][0] - attempts[0][0] >= 0.2  # not asked again in a loop
    assert "could not read 1 cached entries again" in caplog.text


def test_keys_coming_due_within_the_gathering_time_are_read_together() -> None:
    batches: list[tuple[float, list[str]]] = []
    done = threading.Event()

    def read(keys: Sequence[str]) -> None:
        batches.append((time.monotonic(), sorted(keys)))
        done.set()

    refresher = RefreshAhead[str](read, "test-refresh", gather_seconds=0.3)
    asked = time.monotonic()
    refresher.request(["a"])
    time.sleep(0.1)
    refresher.request(["b", "a"])
    _wait_for(done, "the read")
    time.sleep(0.1)
    assert [keys for _, keys in batches] == [["a", "b"]]
    assert batches[0][0] - asked >= 0.3

"""What the push announced once stays announced across restarts without Redis: kept in the warehouse."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from redis import Redis

from api.push.once import KEEP_DAYS, KeptInWarehouse, Once
from tests.support import WarehouseServer


def test_an_announcement_made_for_good_outlives_the_process(warehouse: WarehouseServer) -> None:
    """In memory alone, every restart announced again each milestone its events had reached, at their next
    update (`make run` has no Redis). Announcements repeated after a while (viral trends) are not kept."""
    client = warehouse.client(database="tickettoken")
    event = uuid.uuid4().hex[:8]
    milestone, trend = f"sales:{event}:share:0.25", f"trend:{event}"
    before = Once(None, kept=KeptInWarehouse(lambda: client))
    assert before.first(milestone) is True
    assert before.first(milestone) is False
    assert before.first(trend, for_seconds=900) is True
    after = Once(None, kept=KeptInWarehouse(lambda: client))  # as after a restart
    assert after.first(milestone) is False, "announced before the restart"
    assert after.first(f"sales:{event}:share:0.5") is True
    assert after.first(trend, for_seconds=900) is True, "a trend may be announced again after a restart"
    assert Once(None).first(milestone) is True, "memory alone forgets"


def test_a_warehouse_that_cannot_be_read_is_asked_again(warehouse: WarehouseServer) -> None:
    client = warehouse.client(database="tickettoken")
    milestone = f"sales:{uuid.uuid4().hex[:8]}:share:0.25"
    Once(None, kept=KeptInWarehouse(lambda: client)).first(milestone)
    failing = [True]

    def flaky() -> object:
        if failing[0]:
            raise ConnectionError("warehouse unreachable")
        return client

    once = Once(None, kept=KeptInWarehouse(flaky))  # type: ignore[arg-type]
    assert once.first(f"revenue:{uuid.uuid4().hex[:8]}:1000.00") is True  # announced; could not be kept
    failing[0] = False
    assert once.first(milestone) is False, "read at the next call"


def test_announcements_are_kept_for_a_while_not_for_ever(warehouse: WarehouseServer, redis_url: str) -> None:
    """Kept for ever, and the warehouse's copy read whole at every start, they grew by about twenty an event."""
    client = warehouse.client(database="tickettoken")
    assert "TTL toDateTime(pushed_at) + toIntervalDay(400)" in str(client.command("SHOW CREATE TABLE pushed_once"))
    old, recent = (f"sales:{uuid.uuid4().hex[:8]}:share:0.25" for _ in range(2))
    now = datetime.now(UTC)
    client.insert("pushed_once", [[old, now - timedelta(days=KEEP_DAYS + 1)], [recent, now - timedelta(days=30)]],
                  column_names=["key", "pushed_at"])  # fmt: skip
    loaded = KeptInWarehouse(lambda: client).load()
    assert recent in loaded and old not in loaded

    redis = Redis.from_url(redis_url)
    key = f"sales:{uuid.uuid4().hex[:8]}:share:0.5"
    assert Once(redis, prefix="test:once:").first(key) is True
    assert (KEEP_DAYS - 1) * 86400 < redis.ttl(f"test:once:{key}") <= KEEP_DAYS * 86400

"""The internal bus: committed ingest batches, for the live views. In-process by default; Redis pub/sub when
TICKETTOKEN_REDIS_URL is set, so that every API worker hears what any worker committed.

Publishing is best effort: the data is committed before it is announced, and a lost announcement only
delays a live view until its next refresh. Neither a slow subscriber nor an unreachable Redis holds up ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("tickettoken.bus")
QUEUE_SIZE = 1000  # messages a slow in-process subscriber may lag behind before the oldest are dropped
RESUBSCRIBE_SECONDS = 1.0


class Bus(Protocol):
    async def publish(self, channel: str, message: bytes) -> None: ...

    def subscribe(self, channel: str, on_subscribed: Callable[[], None] | None = None) -> AsyncIterator[bytes]:
        """Messages on `channel`; `on_subscribed` is called once the subscription is in place (from then on
        nothing published is missed, short of the connection breaking, which ends the iteration)."""
        ...

    async def close(self) -> None: ...


class MemoryBus:
    """Subscribers in this process only."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[bytes]]] = {}

    async def publish(self, channel: str, message: bytes) -> None:
        for queue in self._queues.get(channel, ()):
            if queue.full():
                queue.get_nowait()  # drop the oldest: a live view wants the latest
            queue.put_nowait(message)

    async def subscribe(self, channel: str, on_subscribed: Callable[[], None] | None = None) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        self._queues.setdefault(channel, set()).add(queue)
        if on_subscribed is not None:
            on_subscribed()
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.get(channel, set()).discard(queue)

    async def close(self) -> None:
        self._queues.clear()


class RedisBus:
    """Redis pub/sub: every worker's subscribers hear every worker's messages."""

    def __init__(self, url: str) -> None:
        self._redis: Redis = Redis.from_url(url)
        self._failing: set[str] = set()  # channels whose last publish failed: said once, not per batch

    async def publish(self, channel: str, message: bytes) -> None:
        try:
            await self._redis.publish(channel, message)
        except (RedisError, OSError) as error:
            if channel not in self._failing:
                self._failing.add(channel)
                log.warning("bus: could not publish on %s (%s); said once until it works again", channel, error)
            return
        if channel in self._failing:
            self._failing.discard(channel)
            log.info("bus: publishing on %s again", channel)

    async def subscribe(self, channel: str, on_subscribed: Callable[[], None] | None = None) -> AsyncIterator[bytes]:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel)
        if on_subscribed is not None:
            on_subscribed()
        try:
            async for message in pubsub.listen():
                data = message.get("data")
                if isinstance(data, bytes):
                    yield data
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.unsubscribe(channel)
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self._redis.aclose()


async def listen(
    bus: Bus, channel: str, handle: Callable[[bytes], Awaitable[None]], hearing: Callable[[bool], None], what: str
) -> None:
    """Hand every message on `channel` to `handle`, until cancelled. A broken subscription (Redis gone) is made
    again every RESUBSCRIBE_SECONDS: `hearing(False)` when it broke, `hearing(True)` once it is in place (messages
    published meanwhile are lost: the listener starts over), and one warning per outage, not one per try."""
    lost = False

    def subscribed() -> None:
        nonlocal lost
        if lost:
            log.info("bus: %s again", what)
            lost = False
        hearing(True)

    while True:
        try:
            async for message in bus.subscribe(channel, on_subscribed=subscribed):
                await handle(message)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - Redis went away, or a message could not be handled
            if not lost:
                log.warning("bus: %s stopped (%s); subscribing again every second", what, error)
            lost = True
        hearing(False)
        await asyncio.sleep(RESUBSCRIBE_SECONDS)


def make_bus(redis_url: str | None) -> Bus:
    return RedisBus(redis_url) if redis_url else MemoryBus()

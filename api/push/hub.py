"""The Socket.IO server: a `read` key in the connection's auth payload (`{"key": "tt_..."}`), then
`subscribe-event` / `unsubscribe-event` with an event id (a string, or `{"eventId": ...}`), allowed only for the
key's organizer. A key revoked after its sockets connected ends their connections within seconds, and an event
moved to another organizer ends its subscriptions by keys of the old one (`watch_sockets`). With
TICKETTOKEN_REDIS_URL, python-socketio's Redis manager lets any worker emit to clients connected to any other."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import socketio  # type: ignore[import-untyped]  # python-socketio ships no type information
from clickhouse_connect.driver.exceptions import DatabaseError
from litestar.exceptions import HTTPException, NotAuthorizedException
from redis import Redis
from redis.exceptions import RedisError

from api.auth.guards import check_key
from api.auth.keys import ApiKey, KeyStore, Scope
from api.ingest.schemas import ID_MAX_LENGTH
from api.push.fan_out import client_manager
from api.push.schemas import Subscribed
from api.realtime.services import ForeignEvent, RealtimeService, UnknownEvent

log = logging.getLogger("tickettoken.push")
# With Redis, an event is marked watched on a subscription, and each worker marks again, every KEY_RECHECK_SECONDS,
# the events its sockets are subscribed to; a mark lasts this long, so an event no one watches any longer stops
# being pushed within a minute. (A mark made at subscription alone, for an hour, left a dashboard open longer than
# that without updates.)
WATCHED_SECONDS = 60
# Connected sockets' keys are checked again this often (from the key cache, itself at most 5 s old), so a
# revoked key's sockets are cut off within about ten seconds rather than kept for as long as they stay open.
KEY_RECHECK_SECONDS = 5.0


ROOM_PREFIX = "event:"


def room(event_id: str) -> str:
    return ROOM_PREFIX + event_id


@dataclass(frozen=True, slots=True)
class Connected:
    """A connected socket's key: as presented (checked again: revoked?) and as found (its organizer)."""

    presented: str
    key: ApiKey


class PushHub:
    """The Socket.IO server and what it needs, filled in when the app starts (`attach`)."""

    def __init__(self, redis_url: str | None, *, workers: int = 1, origins: tuple[str, ...] = ("*",)) -> None:
        # Long-polling needs every request of a session on the process that made it; workers sharing one port
        # get each connection at random, so a polling session failed a request or two in (`xhr post error`).
        # With several workers, websockets only: one connection per session, refused at once otherwise.
        transports = ["polling", "websocket"] if workers == 1 else ["websocket"]
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            # As for the HTTP routes (api/cors.py); none listed: the API's own origin only.
            cors_allowed_origins="*" if "*" in origins else list(origins) or None,
            client_manager=client_manager(redis_url),
            transports=transports,
        )
        self.app = socketio.ASGIApp(self.sio, socketio_path="")
        self.keys: Callable[[], KeyStore] | None = None  # the worker's key store, made on first use
        self.realtime: RealtimeService | None = None
        self.redis: Redis | None = None
        # Called (in a thread) before a socket joins an event's room that had none of this worker's sockets: to take
        # what the event has already reached as announced (Pusher.settle).
        self.settle: Callable[[str], None] | None = None
        self._settling: dict[str, asyncio.Future[None]] = {}
        self._sockets: dict[str, Connected] = {}  # by sid: the key each socket connected with
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("subscribe-event", self._subscribe)
        self.sio.on("unsubscribe-event", self._unsubscribe)

    def attach(self, keys: Callable[[], KeyStore], realtime: RealtimeService, redis: Redis | None) -> None:
        self.keys, self.realtime, self.redis = keys, realtime, redis

    async def _connect(self, sid: str, _environ: Any = None, auth: Any = None, *_: Any) -> None:
        if sid in self._sockets:
            # python-socketio hands a client's own event named "connect" to this handler too: a connected
            # client sending one is not connecting again, and keeps the key it connected with.
            return
        presented = auth.get("key") or auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(presented, str) or self.keys is None:
            raise socketio.exceptions.ConnectionRefusedError("an API key is required: connect with auth {key: ...}")
        try:
            key = await check_key(self.keys, presented)
        except HTTPException as error:  # the client hears why (invalid key, or keys cannot be checked now)
            raise socketio.exceptions.ConnectionRefusedError(error.detail) from error
        if not key.allows(Scope.READ):
            raise socketio.exceptions.ConnectionRefusedError("this API key lacks the 'read' scope")
        self._sockets[sid] = Connected(presented, key)

    async def _disconnect(self, sid: str, *_: Any) -> None:
        self._sockets.pop(sid, None)

    async def _subscribe(self, sid: str, data: Any = None, *_: Any) -> Any:  # a client may send any arguments
        event_id = _event_id(data)
        if event_id is None:
            return msgspec.to_builtins(Subscribed(False, "", "send an event id (or {eventId: ...})"))
        if len(event_id) > ID_MAX_LENGTH:  # names no event: neither looked up nor echoed back
            return msgspec.to_builtins(Subscribed(False, "", f"event ids are 1 to {ID_MAX_LENGTH} characters"))
        refusal = await self._refusal(sid, event_id)
        if refusal is not None:
            return msgspec.to_builtins(Subscribed(False, event_id, refusal))
        await self._settled(event_id)
        await self.sio.enter_room(sid, room(event_id))
        if self.redis is not None:
            await asyncio.to_thread(self._mark_watched, [event_id])
        return msgspec.to_builtins(Subscribed(True, event_id))

    async def _settled(self, event_id: str) -> None:
        """Before the first of this worker's sockets joins the event's room, `settle` it; sockets subscribing
        meanwhile (a thousand dashboards opening at once) wait for that one call."""
        settling = self._settling.get(event_id)
        if settling is None:
            if self.settle is None or self._rooms().get(room(event_id)):
                return
            settling = self._settling[event_id] = asyncio.ensure_future(asyncio.to_thread(self.settle, event_id))
            settling.add_done_callback(lambda _: self._settling.pop(event_id, None))
        try:
            await asyncio.shield(settling)
        except Exception as error:  # noqa: BLE001 - the subscription stands; an old milestone may go out
            log.warning("push: could not settle %s: %s", event_id, error)

    def _rooms(self) -> dict[Any, Any]:
        """This worker's rooms by name, each with its sockets."""
        rooms: dict[Any, Any] = self.sio.manager.rooms.get("/", {})
        return rooms

    def _mark_watched(self, event_ids: list[str]) -> None:
        """Mark the events watched in Redis for WATCHED_SECONDS, in one round trip. Blocking."""
        if self.redis is None or not event_ids:
            return
        try:
            pipeline = self.redis.pipeline(transaction=False)
            for event_id in event_ids:
                pipeline.set(_watched_key(event_id), b"1", ex=WATCHED_SECONDS)
            pipeline.execute()
        except RedisError as error:
            log.warning("push: could not mark %d event(s) watched: %s", len(event_ids), error)

    async def _refusal(self, sid: str, event_id: str) -> str | None:
        """Why this socket may not subscribe to the event now, or None when it may."""
        realtime = self.realtime
        if realtime is None or self.keys is None:
            return "starting up; retry in a moment"
        connected = self._sockets.get(sid)
        try:  # revoked since the socket connected?
            key = await check_key(self.keys, connected.presented if connected else "")
        except HTTPException as error:
            return str(error.detail)
        try:
            await asyncio.to_thread(realtime.event, event_id, key)
        except UnknownEvent:
            return f"no event {event_id!r}"
        except ForeignEvent:
            return "the event belongs to another organizer"
        except DatabaseError as error:
            log.warning("push: could not look up %s: %s", event_id, error)
            return "the warehouse is unavailable; retry later"
        return None

    async def _unsubscribe(self, sid: str, data: Any = None, *_: Any) -> Any:
        event_id = _event_id(data) or ""
        await self.sio.leave_room(sid, room(event_id))
        return msgspec.to_builtins(Subscribed(True, event_id))

    async def watch_sockets(self) -> None:
        """Runs for the worker's life: every KEY_RECHECK_SECONDS, disconnect the sockets whose key was revoked, and
        end subscriptions to events their key may no longer see."""
        while True:
            await asyncio.sleep(KEY_RECHECK_SECONDS)
            await self.drop_revoked()
            await self.drop_foreign()
            if self.redis is not None:
                await asyncio.to_thread(self._mark_watched, self._subscribed_events())

    def _subscribed_events(self) -> list[str]:
        """The events this worker's sockets are subscribed to."""
        return [name.removeprefix(ROOM_PREFIX) for name, members in self._rooms().items()
                if members and _is_event_room(name)]  # fmt: skip

    async def drop_foreign(self) -> None:
        """Leave the rooms of events that moved to another organizer than the socket's key's (the event as this
        worker keeps it, read again every few seconds while asked about; never a query here)."""
        if self.realtime is None:
            return
        for name, members in list(self._rooms().items()):
            event = self.realtime.kept_event(name.removeprefix(ROOM_PREFIX)) if _is_event_room(name) else None
            if event is None:
                continue
            for sid in list(members):
                connected = self._sockets.get(sid)
                if connected is not None and not connected.key.allows_organizer(event.organizer_id):
                    log.info("push: %s left %s: the event is another organizer's now", sid, name)
                    await self.sio.leave_room(sid, name)

    async def drop_revoked(self) -> None:
        """Disconnect every socket whose key is no longer valid (one check per distinct key, from the key cache).
        While keys cannot be checked (the warehouse down), everyone stays: an outage is not a revocation."""
        if self.keys is None:
            return
        sockets: dict[str, list[str]] = {}
        for sid, connected in list(self._sockets.items()):
            sockets.setdefault(connected.presented, []).append(sid)
        for presented, sids in sockets.items():
            try:
                await check_key(self.keys, presented)
            except NotAuthorizedException:
                log.info("push: disconnecting %d socket(s) of a revoked key", len(sids))
                for sid in sids:
                    await self.sio.disconnect(sid)
            except HTTPException:
                return

    async def watched(self, event_ids: set[str]) -> set[str]:
        """Those of the events anyone may be subscribed to: in this worker's rooms (looked up in place), and with
        Redis on any worker (one round trip for the others, in a thread)."""
        rooms = self._rooms()
        here = {event_id for event_id in event_ids if rooms.get(room(event_id))}
        listed = list(event_ids - here)
        if self.redis is None or not listed:
            return here
        try:
            found = await asyncio.to_thread(_marked, self.redis, listed)
        except RedisError:
            return event_ids  # unsure: compute the updates rather than miss one
        return here | {event_id for event_id, exists in zip(listed, found, strict=True) if exists}


def _is_event_room(name: object) -> bool:
    return isinstance(name, str) and name.startswith(ROOM_PREFIX)  # not a socket's own room (None: everyone)


def _watched_key(event_id: str) -> str:
    return f"tickettoken:watched:{event_id}"


def _marked(redis: Redis, event_ids: list[str]) -> list[Any]:
    """Whether each event is marked watched in Redis (by a subscription on any worker), in one round trip."""
    pipeline = redis.pipeline(transaction=False)
    for event_id in event_ids:
        pipeline.exists(_watched_key(event_id))
    return list(pipeline.execute())


def _event_id(data: Any) -> str | None:
    if isinstance(data, str) and data:
        return data
    if isinstance(data, dict):
        found = data.get("eventId") or data.get("event_id")
        return found if isinstance(found, str) and found else None
    return None

"""python-socketio's client managers, with a room's event handed to its sockets in one loop.

python-socketio's `emit` makes one asyncio task per recipient and waits for them all; each task only puts the
already-encoded packet on that socket's send queue, which never blocks. At 1,000 subscribers the tasks were a
third of the API's CPU per push (80 -> 54 ms per update to bench.realtime's 1,000 Node clients), so the
packets are queued in a plain loop instead. Each socket's own writer still sends them, in order, as before.

That loop never yields, so `emit` then waits (a few turns of the event loop at most) until the writers have
taken the packets: without it, an update followed by milestones had every socket's writer send all of them
before the next socket's writer sent the update (the last subscriber heard the update 140 ms late instead of
60). Emits that want acknowledgements (callbacks) keep python-socketio's way."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio  # type: ignore[import-untyped]  # python-socketio and python-engineio ship no type information
from engineio import packet as eio_packet  # type: ignore[import-untyped]
from engineio.exceptions import EngineIOError  # type: ignore[import-untyped]
from socketio import packet as sio_packet

log = logging.getLogger("tickettoken.push")
HANDOVER_TURNS = 16  # a writer takes its packets three or four turns after they are queued


class QueuedInOneLoop(socketio.AsyncManager):  # type: ignore[misc]  # untyped base
    """`emit` without a task per recipient (see the module's docstring)."""

    async def emit(  # noqa: PLR0917 - python-socketio calls it with this signature
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        room = to or room
        if callback is not None or namespace not in self.rooms:
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)
            return
        arguments = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        skipped = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, *arguments]).encode()
        packets = [eio_packet.Packet(eio_packet.MESSAGE, part)
                   for part in (encoded if isinstance(encoded, list) else [encoded])]  # fmt: skip
        recipients = [(sid, eio_sid) for sid, eio_sid in self.get_participants(namespace, room) if sid not in skipped]
        for sid, eio_sid in recipients:
            try:
                for packet in packets:
                    await self.server._send_eio_packet(eio_sid, packet)
            except EngineIOError as error:  # one socket's trouble must not stop the rest (as with a task each)
                log.debug("push: %s not sent to %s: %r", event, sid, error)
        await self._taken([eio_sid for _, eio_sid in recipients])

    async def _taken(self, eio_sids: list[str]) -> None:
        """Until these websockets have nothing queued, or HANDOVER_TURNS turns of the loop (a writer held up by a
        slow client must not hold up the next emit). A long-polling socket's queue waits for its client's next
        request, so it is not waited for."""
        sockets = self.server.eio.sockets
        for _ in range(HANDOVER_TURNS):
            found = (sockets.get(eio_sid) for eio_sid in eio_sids)
            if all(socket is None or not socket.upgraded or socket.queue.empty() for socket in found):
                return
            await asyncio.sleep(0)


class RedisQueuedInOneLoop(socketio.AsyncRedisManager, QueuedInOneLoop):  # type: ignore[misc]
    """The Redis manager, whose local delivery (after Redis) is `QueuedInOneLoop.emit`: it calls the next
    manager in line, which this order makes ours."""


def client_manager(redis_url: str | None) -> socketio.AsyncManager:
    return RedisQueuedInOneLoop(redis_url) if redis_url else QueuedInOneLoop()

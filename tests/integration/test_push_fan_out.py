"""The push fan-out (api/push/fan_out.py) on a real python-socketio server under uvicorn, with real
python-socketio clients (websockets, and one long-polling): a room's events reach its members in order and no
one else, a socket closed while still in the room does not stop the others', and `emit` returns once the
sockets' writers have taken what it queued."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import socketio  # type: ignore[import-untyped]
import uvicorn

from api.push.fan_out import QueuedInOneLoop
from tests.support import free_port


class Served:
    """A Socket.IO server with the fan-out manager, run by uvicorn on its own thread and event loop."""

    def __init__(self) -> None:
        # Short pings: a long-polling client's disconnect waits for its pending request, which they end.
        self.sio = socketio.AsyncServer(
            async_mode="asgi", client_manager=QueuedInOneLoop(), ping_interval=1, ping_timeout=3
        )
        self.sio.on("join", self._join)
        self.port = free_port()
        config = uvicorn.Config(socketio.ASGIApp(self.sio), port=self.port, log_level="warning", ws="websockets-sansio")
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.run(self._main())  # which cancels what the sockets leave running

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve()

    async def _join(self, sid: str, room: str) -> bool:
        await self.sio.enter_room(sid, room)
        return True

    def run(self, coroutine: Any) -> Any:
        """Run a coroutine on the server's loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)


@pytest.fixture
def served() -> Iterator[Served]:
    served = Served()
    served.thread.start()
    for _ in range(200):
        if served.server.started:
            break
        time.sleep(0.05)
    assert served.server.started, "uvicorn did not start"
    yield served
    served.server.should_exit = True
    served.thread.join(10)


class Member:
    def __init__(self, port: int, room: str | None, transport: str = "websocket") -> None:
        self.heard: queue.Queue[dict[str, Any]] = queue.Queue()
        self.client = socketio.Client(reconnection=False)
        self.client.on("news", self.heard.put)
        self.client.connect(f"http://127.0.0.1:{port}", transports=[transport], wait_timeout=10)
        if room is not None:
            assert self.client.call("join", room, timeout=10) is True

    def received(self, count: int) -> list[int]:
        return [self.heard.get(timeout=10)["n"] for _ in range(count)]


def test_a_rooms_members_hear_each_event_in_order_and_others_nothing(served: Served) -> None:
    members = [Member(served.port, "r"), Member(served.port, "r", "polling"), Member(served.port, "r")]
    outsider = Member(served.port, "elsewhere")
    for n in range(5):
        served.run(served.sio.emit("news", {"n": n}, room="r"))
    assert [member.received(5) for member in members] == [[0, 1, 2, 3, 4]] * 3
    assert outsider.heard.empty()
    for client in [*members, outsider]:
        client.client.disconnect()


def test_a_socket_closed_while_in_the_room_does_not_stop_the_rest(served: Served) -> None:
    first, closing, last = (Member(served.port, "r") for _ in range(3))

    async def close_the_middle_one_and_emit() -> None:
        eio_sid = served.sio.manager.eio_sid_from_sid(closing.client.get_sid("/"), "/")
        served.sio.eio.sockets[eio_sid].closed = True  # as between its close and leaving the room
        await served.sio.emit("news", {"n": 7}, room="r")

    served.run(close_the_middle_one_and_emit())
    assert first.received(1) == [7]
    assert last.received(1) == [7]
    for member in (first, last):
        member.client.disconnect()


def test_emit_returns_once_the_writers_took_the_packets(served: Served) -> None:
    members = [Member(served.port, "r") for _ in range(20)]

    async def emit_then_look() -> list[bool]:
        await served.sio.emit("news", {"n": 1}, room="r")
        return [served.sio.eio.sockets[eio].queue.empty() for _, eio in served.sio.manager.get_participants("/", "r")]

    taken = served.run(emit_then_look())
    assert len(taken) == 20
    assert all(taken)
    assert [member.received(1) for member in members] == [[1]] * 20
    for member in members:
        member.client.disconnect()

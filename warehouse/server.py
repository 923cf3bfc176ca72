"""The ClickHouse HTTP interface over the embedded engine, as a plain ASGI application.

Everything that touches the engine runs in worker threads (chDB releases the GIL), the event loop only
moves bytes. Results of streamable formats go out chunk by chunk as the engine produces them; a client
that goes away has its query killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tickettoken.settings import EMBEDDED_HEADER, WarehouseSettings
from warehouse import native_blocks
from warehouse.body import ClientGone, decoded_pieces, read_limited, read_statement
from warehouse.codecs import BodyDecoder, ResponseEncoder
from warehouse.connection import EngineConnection
from warehouse.errors import QUERY_WAS_CANCELLED, UNKNOWN_EXCEPTION, WarehouseError
from warehouse.form import is_form, parse_form
from warehouse.framing import ChunkFramer
from warehouse.pool import Engine
from warehouse.request import QueryRequest, parse_params, read_request
from warehouse.sql_text import InlineInsert, first_keyword, insert_with_body_data
from warehouse.statements import Outcome, close_stream, start_insert, start_statement
from warehouse.tracker import QueryTracker, TrackedQuery
from warehouse.users import User, Users

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("tickettoken.warehouse")
EMBEDDED_MARK = (EMBEDDED_HEADER.lower().encode(), b"1")
QUERY_LOGGER = "tickettoken.warehouse.query"
# With `compress=1`, errors of these statuses go in compressed blocks, as ClickHouse sends those met once the
# answer's output exists; the Java client reads exactly these so (others, such as 401 and 403, as plain text).
NATIVE_ERROR_STATUSES = frozenset({400, 404, 500})
query_log = logging.getLogger(QUERY_LOGGER)

_CONTENT_TYPES = {
    "json": b"application/json; charset=UTF-8",
    "jsoncompact": b"application/json; charset=UTF-8",
    "jsoneachrow": b"application/x-ndjson; charset=UTF-8",
    "csv": b"text/csv; charset=UTF-8; header=absent",
    "csvwithnames": b"text/csv; charset=UTF-8; header=present",
    "tabseparated": b"text/tab-separated-values; charset=UTF-8",
    "tsv": b"text/tab-separated-values; charset=UTF-8",
}


class StreamBroken(Exception):
    """A streamed result failed after its headers were sent; the response is left unfinished."""

    def __init__(self, error: WarehouseError) -> None:
        super().__init__(error.message)
        self.error = error


class WarehouseApp:
    """ASGI app: `/` and `/ping` as in ClickHouse, queries on `/`."""

    def __init__(self, settings: WarehouseSettings) -> None:
        self.settings = settings
        self.users = Users.from_settings(settings)
        self.engine: Engine | None = None
        self.tracker: QueryTracker | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._display_name = socket.gethostname().encode()
        self._timezone = b"UTC"

    # -- lifecycle -------------------------------------------------------------------------------------
    async def startup(self) -> None:
        loop = asyncio.get_running_loop()
        workers = 2 * self.settings.pool_size + self.settings.max_sessions + 8
        loop.set_default_executor(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chdb"))
        limits = {
            "max_execution_time": self.settings.analyst_max_execution_time,
            "max_memory_usage": self.settings.analyst_max_memory_usage,
        }
        self.engine = await asyncio.to_thread(
            Engine,
            self.settings.warehouse_dir,
            pool_size=self.settings.pool_size,
            max_sessions=self.settings.max_sessions,
            analyst_limits=limits,
            backup_dir=self.settings.backup_dir,
        )
        tz = self.engine.anchor.query("SELECT timezone()", "TabSeparated", {}).bytes().strip()
        self._timezone = tz or b"UTC"
        self.tracker = QueryTracker(
            self.engine.anchor,
            max_execution_time=self.settings.analyst_max_execution_time,
            max_memory_usage=self.settings.analyst_max_memory_usage,
        )
        self._tasks = [asyncio.create_task(self.tracker.watch()), asyncio.create_task(self._reap_sessions())]
        log.info("warehouse engine open at %s", self.settings.warehouse_dir)

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.engine is not None:
            await asyncio.to_thread(self.engine.close)
            self.engine = None
            log.info("warehouse engine closed cleanly")

    def _running(self) -> tuple[Engine, QueryTracker]:
        if self.engine is None or self.tracker is None:
            raise WarehouseError(UNKNOWN_EXCEPTION, "the engine is not open", http_status=503)
        return self.engine, self.tracker

    async def _reap_sessions(self) -> None:
        while True:
            await asyncio.sleep(5)
            if self.engine is not None:
                await asyncio.to_thread(self.engine.sessions.reap)

    # -- ASGI --------------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as error:  # noqa: BLE001 - reported to the server, which exits
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        params = parse_params(scope["query_string"])
        if path == "/ping" or (path == "/" and method in ("GET", "HEAD") and "query" not in params):
            await _reply(send, 200, [(b"content-type", b"text/plain; charset=UTF-8"), EMBEDDED_MARK], b"Ok.\n")
            return
        if path != "/":
            await _reply(
                send,
                404,
                [(b"content-type", b"text/plain; charset=UTF-8")],
                b"There is no handle " + path.encode() + b"\n",
            )
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        started = time.perf_counter()
        query_id, user_name, outcome, code = params.get("query_id", ""), "-", Outcome(returns_rows=False), 0
        sent_bytes, native = 0, False
        try:
            user = self.users.authenticate(headers, params)
            user_name = user.name
            if is_form(headers.get("content-type", "")):
                params.update(await _form_fields(headers, receive))
                receive = _body_already_read(receive)
            req = read_request(method, params, headers, user)
            query_id, native = req.query_id, req.native_response
            outcome, sent_bytes = await self._run(req, user, receive, send, started)
        except WarehouseError as error:
            code = error.code
            await self._error(send, error.refusing(user_name), query_id, native=native)
        except ClientGone:
            code = QUERY_WAS_CANCELLED
        except StreamBroken as broken:
            # Returning without the final body message makes the server drop the connection, so the
            # client sees a failed read rather than a complete-looking result.
            code = broken.error.code
        except Exception as unexpected:
            # A bug, not the client's fault: log it whole, answer in ClickHouse's shape where still possible.
            log.exception("query_id=%s failed unexpectedly", query_id)
            code = UNKNOWN_EXCEPTION
            with contextlib.suppress(RuntimeError):  # the response may have started already
                failure = WarehouseError(code, f"{type(unexpected).__name__}: {unexpected}")
                await self._error(send, failure, query_id, native=native)
        finally:
            query_log.info(
                "user=%s query_id=%s duration_ms=%.1f rows=%d written_rows=%d bytes=%d code=%d",
                user_name, query_id, (time.perf_counter() - started) * 1000, outcome.rows,
                outcome.written_rows, sent_bytes, code,
            )  # fmt: skip

    async def _run(
        self, req: QueryRequest, user: User, receive: Receive, send: Send, started: float
    ) -> tuple[Outcome, int]:
        engine, tracker = self._running()
        tracked = tracker.start(req.query_id, user.name, limited=user.readonly)
        try:
            async with engine.lease(
                user, req.session_id, session_timeout=req.session_timeout, session_check=req.session_check
            ) as conn:
                pieces = decoded_pieces(receive, BodyDecoder(req.content_encoding, native=req.native_body))
                insert = insert_with_body_data(req.query_param) if req.query_param else None
                sql, data_head = "", b""
                if insert is None:
                    statement = await read_statement(req.query_param, pieces)
                    sql, insert, data_head = statement.sql, statement.insert, statement.data_head
                if insert is not None:
                    outcome = await self._insert(
                        conn=conn, req=req, insert=insert, data_head=data_head, pieces=pieces, tracked=tracked
                    )
                else:
                    if first_keyword(sql) == "KILL":
                        sql = tracker.kill_statement(sql, user.name, readonly=user.readonly)
                    async with self._kill_on_disconnect(receive, tracked):
                        outcome = await asyncio.to_thread(start_statement, conn, req, sql, tracked.prefix)
                headers = self._headers(req, outcome, started)
                if outcome.stream is None:
                    encoder = ResponseEncoder(req.response_encoding, native=req.native_response)
                    if encoder.is_identity:
                        body = outcome.data
                    else:
                        body = await asyncio.to_thread(lambda: encoder.encode(outcome.data) + encoder.finish())
                    await _reply(send, 200, headers, body)
                    return outcome, len(body)
                sent = await self._send_stream(
                    send=send, headers=headers, conn=conn, outcome=outcome, req=req, receive=receive, tracked=tracked
                )
                return outcome, sent
        finally:
            tracker.finish(tracked)

    @staticmethod
    async def _insert(
        *,
        conn: EngineConnection,
        req: QueryRequest,
        insert: InlineInsert,
        data_head: bytes,
        pieces: AsyncIterator[bytes],
        tracked: TrackedQuery,
    ) -> Outcome:
        """Stream the rows into the engine as they arrive.

        As in ClickHouse, the engine commits a large insert block by block (`max_insert_block_size` rows);
        a bad row stops the insert with an error, and blocks before it stay committed.
        """
        progress = await asyncio.to_thread(
            start_insert, conn, req, insert.statement, insert.data_format, tracked.prefix
        )
        try:
            last = data_head  # held back, so that the last piece and the commit share one hop to a thread
            async for piece in pieces:
                if last:
                    await asyncio.to_thread(progress.append, last)
                last = piece
            return await asyncio.to_thread(progress.finish, last)
        except BaseException:
            await asyncio.to_thread(progress.abort)
            raise

    async def _send_stream(
        self,
        *,
        send: Send,
        headers: list[tuple[bytes, bytes]],
        conn: EngineConnection,
        outcome: Outcome,
        req: QueryRequest,
        receive: Receive,
        tracked: TrackedQuery,
    ) -> int:
        framer = ChunkFramer(outcome.fmt or req.default_format)
        encoder = ResponseEncoder(req.response_encoding, native=req.native_response)
        finished = False

        def next_piece(first: bool) -> bytes:
            nonlocal finished
            if first:
                return encoder.encode(b"".join(framer.frame(chunk) for chunk in outcome.head))
            chunk = conn.fetch(outcome.stream)
            if chunk is None:
                finished = True
                return encoder.encode(framer.finish()) + encoder.finish()
            outcome.rows += chunk[1]
            return encoder.encode(framer.frame(chunk[0]))

        await send({"type": "http.response.start", "status": 200, "headers": headers})
        sent = 0
        try:
            async with self._kill_on_disconnect(receive, tracked):
                piece = await asyncio.to_thread(next_piece, True)
                while not finished:
                    if piece:
                        await send({"type": "http.response.body", "body": piece, "more_body": True})
                        sent += len(piece)
                    piece = await asyncio.to_thread(next_piece, False)
        except WarehouseError as error:
            # Headers are gone: put the exception where clients look for it, encoded as the rows were (as
            # ClickHouse does: raw text inside a gzip or zstd body was lost to the client), and break the stream.
            text = encoder.encode(b"\n" + error.body().encode()) + encoder.finish()
            await send({"type": "http.response.body", "body": text, "more_body": True})
            raise StreamBroken(error) from None
        finally:
            await asyncio.to_thread(close_stream, conn, outcome.stream, finished=finished)
        # Sent only after the watcher stopped: a finished response reads as a disconnect to it.
        await send({"type": "http.response.body", "body": piece, "more_body": False})
        return sent + len(piece)

    @contextlib.asynccontextmanager
    async def _kill_on_disconnect(self, receive: Receive, tracked: TrackedQuery) -> AsyncIterator[None]:
        _, tracker = self._running()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                continue
            await asyncio.to_thread(tracker.kill, tracked, "client disconnected")

        watcher = asyncio.create_task(watch())
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, WarehouseError):
                await watcher

    def _headers(self, req: QueryRequest, outcome: Outcome, started: float) -> list[tuple[bytes, bytes]]:
        elapsed_ns = int((time.perf_counter() - started) * 1e9)
        headers = [
            (b"x-clickhouse-server-display-name", self._display_name),
            (b"x-clickhouse-query-id", req.query_id.encode()),
            (b"x-clickhouse-timezone", self._timezone),
            (b"x-clickhouse-summary", outcome.summary(elapsed_ns).encode()),
            (b"keep-alive", b"timeout=30"),
        ]
        if outcome.returns_rows and outcome.fmt:
            headers.append((b"x-clickhouse-format", outcome.fmt.encode()))
            content_type = _CONTENT_TYPES.get(outcome.fmt.lower(), b"application/octet-stream")
            headers.append((b"content-type", content_type))
        else:
            headers.append((b"content-type", b"text/plain; charset=UTF-8"))
        if req.response_encoding:
            headers.append((b"content-encoding", req.response_encoding.encode()))
        return headers

    async def _error(self, send: Send, error: WarehouseError, query_id: str, *, native: bool) -> None:
        """The error in ClickHouse's shape; with `compress=1`, in compressed blocks where ClickHouse sends them so
        (the statuses of errors met after the answer's output was made, which clients read through it)."""
        headers = [
            (b"content-type", b"text/plain; charset=UTF-8"),
            (b"x-clickhouse-exception-code", str(error.code).encode()),
            (b"x-clickhouse-server-display-name", self._display_name),
        ]
        if query_id:
            headers.append((b"x-clickhouse-query-id", query_id.encode()))
        if error.http_status == 401:
            headers.append((b"www-authenticate", b'Basic realm="ClickHouse server HTTP API"'))
        body = error.body().encode()
        if native and error.http_status in NATIVE_ERROR_STATUSES:
            body = native_blocks.compress(body)
        await _reply(send, error.http_status, headers, body)


async def _form_fields(headers: dict[str, str], receive: Receive) -> dict[str, str]:
    pieces = decoded_pieces(receive, BodyDecoder(headers.get("content-encoding", "")))
    body = await read_limited(pieces, "Form body")
    return await asyncio.to_thread(parse_form, headers["content-type"], body)


def _body_already_read(receive: Receive) -> Receive:
    """A receive whose body is empty (it was read already); later calls still report a disconnect."""
    first = True

    async def wrapped() -> Message:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    return wrapped


async def _reply(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})

"""The Litestar application."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pyarrow as pa
from litestar import Litestar, asgi
from litestar.logging.config import LoggingConfig
from litestar.types import ASGIApp, Receive, Scope, Send
from redis import Redis

from api.auth.guards import key_store
from api.bus import make_bus
from api.cors import Cors
from api.head_requests import answer_head_as_get
from api.ingest import sharing
from api.ingest.controllers import ingest_router
from api.ingest.errors import EXCEPTION_HANDLERS
from api.ingest.fast_path import IngestFastPath
from api.ingest.services import IngestService, publishable
from api.ingest.writer import CommittedBatch
from api.openapi_document import describe_ingest_bodies, openapi_config
from api.push.hub import PushHub
from api.push.once import KeptInWarehouse, Once
from api.push.pusher import Pusher
from api.realtime import shared_rows
from api.realtime.cache import LiveCache
from api.realtime.controllers import EXCEPTION_HANDLERS as LIVE_EXCEPTION_HANDLERS
from api.realtime.controllers import LiveAnswers, realtime_router
from api.realtime.fast_path import LiveFastPath
from api.realtime.services import RealtimeService, fetch_rows
from api.realtime.tallies import Tallies
from api.socket_log import log_socket_connections
from api.system.controllers import MetricsController, SystemController
from api.system.exception_log import unexpected_exceptions_logger
from api.system.request_metrics import request_metrics
from api.warehouse_handle import WarehouseHandle
from tickettoken.logs import LOG_FORMAT
from tickettoken.settings import Settings, get_settings

log = logging.getLogger("tickettoken.api")
INGEST_CHANNEL = "ingest"  # committed batches, for the live views
GC_YOUNG_OBJECTS = 50_000  # allocations between young collections (Python's default: 700)
API_DESCRIPTION = (
    "Analytics of an event-ticketing platform: ingest of sales, scans, revenue and social activity; live "
    "aggregates; reports from dbt marts; demand and revenue forecasts."
)


def quieter_collections() -> None:
    """Fewer, shorter pauses of Python's cycle collector. What exists once the app is up (modules, routes,
    settings) lives as long as the process: frozen, a full collection no longer walks it. A larger young
    generation lets what a request or a push makes (a push wakes every subscriber's writer task) die before
    it is promoted; promoted objects are what trigger full collections, which take 100-300 ms here with 1,000
    sockets open."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_OBJECTS, 20, 10)


def _answered_exceptions() -> list[type[BaseException]]:
    """The exceptions the app's handlers turn into answers (4xx, or 503 for the warehouse): not faults."""
    maps = (EXCEPTION_HANDLERS, LIVE_EXCEPTION_HANDLERS)
    return [kind for handlers in maps for kind in handlers if isinstance(kind, type)]


def create_asgi() -> ASGIApp:
    """What the server runs: the app, with live answers in memory sent and clean small ingest bodies committed
    before routing (api/realtime/fast_path.py, api/ingest/fast_path.py), each counting its own requests, the rest
    counted around the app (api/system/request_metrics.py), HEAD answered as GET (api/head_requests.py), and CORS
    in front of all (api/cors.py)."""
    settings = get_settings()
    log_socket_connections(access_log=settings.api.access_log)
    app = create_app(settings)
    metered = request_metrics(app)
    served = answer_head_as_get(
        LiveFastPath(app, IngestFastPath(app, metered, max_body_bytes=settings.api.max_body_bytes))
    )
    return Cors(served, settings.api.cors_origins) if settings.api.cors_origins else served


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the app; `settings` defaults to the environment's."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        log.info("Arrow buffers from the %s allocator", pa.default_memory_pool().backend_name)  # cli.py: serve
        app.state.warehouse = WarehouseHandle(settings.warehouse)
        app.state.redis = Redis.from_url(settings.redis.url) if settings.redis.url else None
        app.state.bus = bus = make_bus(settings.redis.url)

        origin = sharing.new_origin()
        # Only a Redis bus reaches the other workers; without one, a lone worker hears all its commits itself.
        shared = settings.redis.url is not None

        # The live views keep watched events' rows up to date from the commits: a lone worker makes them all;
        # with Redis, workers hear each other's (shared_rows.py); otherwise the views read the table each time.
        tallies = Tallies(
            fetch_rows(app.state.warehouse.client),
            enabled=settings.api.workers == 1 and not shared,
            max_rows=settings.live.max_rows,
            max_age=settings.live.reload_seconds,
        )

        async def publish(batch: CommittedBatch) -> None:
            if batch.rows is not None:
                # First, before anything awaits: the requests of the batch are answered only after this.
                await tallies.hear(batch.stream, batch.rows, batch.hashes)
                if shared:
                    await shared_rows.publish(bus, origin, batch.stream, batch.rows)
            elif batch.stream == "event":
                realtime.forget_events(batch.counts)
            pusher.committed(batch)
            await bus.publish(INGEST_CHANNEL, publishable(batch))
            if shared and len(batch.hashes):
                await bus.publish(sharing.CHANNEL, sharing.encode(origin, batch))

        app.state.ingest = ingest = IngestService.create(
            app.state.warehouse.client,
            settings.ingest,
            publish,
            max_body_bytes=settings.api.max_body_bytes,
            on_failure=tallies.forget,
            hears_every_commit=shared or settings.api.workers == 1,
            insert_small=app.state.warehouse.insert_small,
        )
        milestones = settings.push
        app.state.realtime = realtime = RealtimeService(
            app.state.warehouse.client, tallies, milestone_shares=milestones.milestone_shares,
            milestone_counts=milestones.milestone_counts, revenue_milestones=milestones.revenue_milestones,
        )  # fmt: skip
        app.state.live = LiveAnswers(realtime, LiveCache(app.state.redis))
        hub.attach(lambda: key_store(app.state), realtime, app.state.redis)
        # Without Redis, what was announced for good is kept in the warehouse too: a restart repeated it all.
        kept = None if app.state.redis is not None else KeptInWarehouse(app.state.warehouse.client)
        pusher = Pusher(hub, realtime, Once(app.state.redis, kept=kept), settings.push)
        hub.settle = pusher.settle
        pushing = asyncio.create_task(pusher.run(), name="push")
        sockets_watch = asyncio.create_task(hub.watch_sockets(), name="push-sockets")
        listeners = (
            [asyncio.create_task(sharing.listen(bus, origin, ingest.writers)),
             asyncio.create_task(shared_rows.listen(bus, origin, tallies))]
            if shared else []
        )  # fmt: skip
        quieter_collections()
        try:
            yield
        finally:
            pushing.cancel()
            sockets_watch.cancel()
            for listener in listeners:
                listener.cancel()
            await bus.close()
            await app.state.warehouse.aclose()
            if app.state.redis is not None:
                app.state.redis.close()

    hub = PushHub(settings.redis.url, workers=settings.api.workers, origins=settings.api.cors_origins)

    @asgi("/socket.io", is_mount=True, include_in_schema=False, copy_scope=True)
    async def socket_io(scope: Scope, receive: Receive, send: Send) -> None:
        """Socket.IO (python-socketio): subscribe-event / unsubscribe-event, then the updates (docs/realtime.md)."""
        await hub.app(scope, receive, send)

    app = Litestar(
        route_handlers=[SystemController, MetricsController, ingest_router, realtime_router, socket_io],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.api.max_body_bytes,
        logging_config=LoggingConfig(
            formatters={"standard": {"format": LOG_FORMAT}},  # as the warehouse's and the CLI's lines
            loggers={"tickettoken": {"level": "INFO", "handlers": ["queue_listener"], "propagate": False}},
            log_exceptions="always",
            exception_logging_handler=unexpected_exceptions_logger(_answered_exceptions()),
        ),
        lifespan=[lifespan],
        openapi_config=openapi_config(API_DESCRIPTION),
    )
    describe_ingest_bodies(app)
    return app

"""The Litestar application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusConfig
from redis import Redis

from api.bus import make_bus
from api.ingest.controllers import ingest_router
from api.ingest.errors import EXCEPTION_HANDLERS
from api.ingest.services import IngestService, publishable
from api.ingest.writer import CommittedBatch
from api.system.controllers import MetricsController, SystemController
from api.warehouse_handle import WarehouseHandle
from tickettoken.settings import Settings, get_settings

INGEST_CHANNEL = "ingest"  # committed batches, for the live views
API_DESCRIPTION = (
    "Analytics of an event-ticketing platform: ingest of sales, scans, revenue and social activity; live "
    "aggregates; reports from dbt marts; demand and revenue forecasts."
)


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the app; `settings` defaults to the environment's."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.warehouse = WarehouseHandle(settings.warehouse)
        app.state.redis = Redis.from_url(settings.redis.url) if settings.redis.url else None
        app.state.bus = bus = make_bus(settings.redis.url)

        async def publish(batch: CommittedBatch) -> None:
            await bus.publish(INGEST_CHANNEL, publishable(batch))

        app.state.ingest = IngestService.create(app.state.warehouse.client, settings.ingest, publish)
        try:
            yield
        finally:
            await bus.close()
            app.state.warehouse.close()
            if app.state.redis is not None:
                app.state.redis.close()

    prometheus = PrometheusConfig(app_name="tickettoken", prefix="tickettoken", exclude=["/metrics"])
    return Litestar(
        route_handlers=[SystemController, MetricsController, ingest_router],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.api.max_body_bytes,
        logging_config=LoggingConfig(
            loggers={"tickettoken": {"level": "INFO", "handlers": ["queue_listener"], "propagate": False}},
            log_exceptions="always",
        ),
        lifespan=[lifespan],
        middleware=[prometheus.middleware],
        openapi_config=OpenAPIConfig(
            title="TicketToken Analytics", version="0.1.0", description=API_DESCRIPTION, path="/schema"
        ),
    )

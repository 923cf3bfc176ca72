"""The Litestar application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusConfig
from redis import Redis

from api.system.controllers import MetricsController, SystemController
from api.warehouse_handle import WarehouseHandle
from tickettoken.settings import Settings, get_settings

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
        try:
            yield
        finally:
            app.state.warehouse.close()
            if app.state.redis is not None:
                app.state.redis.close()

    prometheus = PrometheusConfig(app_name="tickettoken", prefix="tickettoken", exclude=["/metrics"])
    return Litestar(
        route_handlers=[SystemController, MetricsController],
        lifespan=[lifespan],
        middleware=[prometheus.middleware],
        openapi_config=OpenAPIConfig(
            title="TicketToken Analytics", version="0.1.0", description=API_DESCRIPTION, path="/schema"
        ),
    )

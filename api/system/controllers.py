"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.plugins.prometheus import PrometheusController
from litestar.response import Response
from redis import Redis

from api.auth.guards import require
from api.auth.keys import Scope
from api.system.deps import provide_redis, provide_warehouse
from api.system.schemas import Health, Readiness
from api.system.services import check_readiness
from api.warehouse_handle import WarehouseHandle


class SystemController(Controller):
    tags = ["system"]
    dependencies = {
        "warehouse": Provide(provide_warehouse, sync_to_thread=False),
        "redis": Provide(provide_redis, sync_to_thread=False),
    }

    @get("/health", operation_id="health", summary="Liveness")
    async def health(self) -> Health:
        """Answers while the process runs; says nothing about its dependencies."""
        return Health(status="ok")

    @get("/ready", operation_id="ready", summary="Readiness", sync_to_thread=True)
    def ready(
        self, warehouse: NamedDependency[WarehouseHandle], redis: NamedDependency[Redis | None]
    ) -> Response[Readiness]:
        """200 when the warehouse answers (migrated), 503 otherwise. Redis, when configured, is checked but not
        required: while it is down the answer is 200 with `degraded: true` (each worker serves on its own)."""
        readiness = check_readiness(warehouse, redis)
        return Response(readiness, status_code=200 if readiness.ready else 503)


class MetricsController(PrometheusController):
    """Prometheus metrics; needs an admin key (a scraper sends it as `Authorization: Bearer <key>`)."""

    path = "/metrics"
    middleware = [require(Scope.ADMIN)]
    include_in_schema = False

"""Providers for the system area."""

from __future__ import annotations

from litestar.datastructures import State
from redis import Redis

from api.warehouse_handle import WarehouseHandle


def provide_warehouse(state: State) -> WarehouseHandle:
    """The worker's warehouse handle; its client is made on first use."""
    handle: WarehouseHandle = state.warehouse
    return handle


def provide_redis(state: State) -> Redis | None:
    """The worker's Redis client, or None when TICKETTOKEN_REDIS_URL is unset."""
    redis: Redis | None = state.redis
    return redis

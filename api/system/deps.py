"""Providers for the system area."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from litestar.datastructures import State
from redis import Redis


def provide_warehouse(state: State) -> Client:
    """The worker's warehouse client (HTTP, sessionless, safe to share between threads)."""
    client: Client = state.warehouse
    return client


def provide_redis(state: State) -> Redis | None:
    """The worker's Redis client, or None when TICKETTOKEN_REDIS_URL is unset."""
    redis: Redis | None = state.redis
    return redis

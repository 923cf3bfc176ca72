"""Checking the service's dependencies; no HTTP here."""

from __future__ import annotations

import time
from collections.abc import Callable

from clickhouse_connect.driver.client import Client
from redis import Redis

from api.system.schemas import DependencyCheck, Readiness
from api.warehouse_handle import WarehouseHandle


def _timed(name: str, probe: Callable[[], object], *, required: bool = True) -> DependencyCheck:
    started = time.perf_counter()
    try:
        probe()
    except Exception as error:  # noqa: BLE001 - any failure is reported with its text
        return DependencyCheck(name, False, _ms(started), f"{type(error).__name__}: {error}"[:300], required)
    return DependencyCheck(name, True, _ms(started), required=required)


def _migrated(client: Client) -> None:
    if not client.command("EXISTS TABLE sales"):
        raise RuntimeError("the warehouse is not migrated: run `tickettoken warehouse migrate`")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def check_readiness(warehouse: WarehouseHandle, redis: Redis | None) -> Readiness:
    # `EXISTS` on a raw table: a warehouse that answers but was never migrated is not ready either.
    checks = [_timed("warehouse", lambda: _migrated(warehouse.client()))]
    if redis is not None:
        # Not required: without Redis each worker still ingests, answers and pushes what it commits (workers
        # then check duplicates against the warehouse, and cache and push each for itself). Failing readiness
        # on it took every instance out of its load balancer at a Redis blip, and ingest with them.
        checks.append(_timed("redis", redis.ping, required=False))
    return Readiness(
        ready=all(check.ok for check in checks if check.required),
        checks=checks,
        degraded=not all(check.ok for check in checks),
    )

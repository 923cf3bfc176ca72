"""clickhouse-connect clients for the API, the migrations and the analyst tools, from settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.asyncclient import AsyncClient
from clickhouse_connect.driver.client import Client

from tickettoken.settings import LOOPBACK_HOSTS, WarehouseSettings


def connect(
    settings: WarehouseSettings,
    *,
    user: str | None = None,
    password: str | None = None,
    database: str | None = None,
    **kwargs: Any,
) -> Client:
    """A client over HTTP to the configured warehouse (embedded server or a real ClickHouse)."""
    # Shared by concurrent requests: a session would serialize them (and ClickHouse refuses that).
    options = {**client_options(settings, user, password, database), "autogenerate_session_id": False, **kwargs}
    return clickhouse_connect.get_client(**options)


async def connect_async(settings: WarehouseSettings, *, database: str | None = None) -> AsyncClient:
    """An asyncio client (aiohttp) to the configured warehouse, as the service's user."""
    return await clickhouse_connect.get_async_client(
        **client_options(settings, None, None, database),
        # Idle connections are let go well before a server closes them (ours after 30 s, ClickHouse's after 10 by
        # default), so an INSERT is not sent down a connection the server is closing.
        keepalive_timeout=5.0,
    )


def client_options(
    settings: WarehouseSettings, user: str | None, password: str | None, database: str | None
) -> dict[str, Any]:
    """Where the warehouse is and who to log in as: the given user, else the URL's, else the settings'; and whether
    to compress what goes both ways (not on loopback, where it only costs both ends CPU)."""
    parts = urlsplit(settings.clickhouse_url)
    return {
        "compress": settings.host not in LOOPBACK_HOSTS,
        "interface": "https" if settings.secure else "http",
        "host": settings.host,
        "port": settings.port,
        "username": user if user is not None else (parts.username or settings.user),
        "password": password if password is not None else (parts.password or settings.password),
        "database": database or "default",
    }


def connect_analyst(settings: WarehouseSettings) -> Client:
    """A client as the read-only analyst user."""
    return connect(
        settings,
        user=settings.analyst_user,
        password=settings.analyst_password,
        database=settings.database,
    )

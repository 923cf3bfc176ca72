"""The worker's warehouse client, made on first use so the API starts (and says "not ready") while the
warehouse is down or not yet migrated, instead of failing to start."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.asyncclient import AsyncClient
from clickhouse_connect.driver.client import Client

from api.early_insert import EarlyInserts
from tickettoken.settings import WarehouseSettings
from warehouse.client import connect, connect_async


class WarehouseHandle:
    def __init__(self, settings: WarehouseSettings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = threading.Lock()
        self._async_client: AsyncClient | None = None
        self._async_lock: asyncio.Lock | None = None  # made on the loop that uses it
        self._early = EarlyInserts()

    def client(self) -> Client:
        """The shared client (HTTP, sessionless, safe between threads); raises while unreachable."""
        with self._lock:
            if self._client is None:
                self._client = connect(self._settings, database=self._settings.database)
            return self._client

    async def insert_small(self, table: str, rows: pa.Table, settings: dict[str, Any]) -> None:
        """INSERT a few rows, awaited on the event loop (no thread: see `StreamWriter._write_small`); under a
        steady flow through an INSERT sent ahead for them (api/early_insert.py)."""
        await self._early.insert(await self._async(), table, rows, settings)

    async def _async(self) -> AsyncClient:
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        async with self._async_lock:
            if self._async_client is None:
                self._async_client = await connect_async(self._settings, database=self._settings.database)
            return self._async_client

    async def aclose(self) -> None:
        """`close`, and the asyncio client's connections (after ending the INSERTs sent ahead)."""
        self.close()
        await self._early.close()
        if self._async_client is not None:
            client, self._async_client = self._async_client, None
            await client.close()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

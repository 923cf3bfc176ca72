"""The worker's warehouse client, made on first use so the API starts (and says "not ready") while the
warehouse is down or not yet migrated, instead of failing to start."""

from __future__ import annotations

import threading

from clickhouse_connect.driver.client import Client

from tickettoken.settings import WarehouseSettings
from warehouse.client import connect


class WarehouseHandle:
    def __init__(self, settings: WarehouseSettings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = threading.Lock()

    def client(self) -> Client:
        """The shared client (HTTP, sessionless, safe between threads); raises while unreachable."""
        with self._lock:
            if self._client is None:
                self._client = connect(self._settings, database=self._settings.database)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

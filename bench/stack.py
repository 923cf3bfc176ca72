"""What the benchmarks run against: a migrated warehouse server with the API in front of it, and the bare
Litestar app that gives the endpoints' ceiling. Both stop when their block ends."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from api.auth.keys import KeyStore
from tests.support import ApiServer, WarehouseServer, free_port, wait_for_http
from warehouse.migrate import migrate


@contextmanager
def api_stack(base: Path) -> Iterator[tuple[WarehouseServer, ApiServer, KeyStore]]:
    """The warehouse (data under `base`), migrated; the API (one worker); the key store to make keys with."""
    warehouse = WarehouseServer(base / "data", free_port(), base / "warehouse.log").start()
    try:
        migrate(warehouse.client(), warehouse.settings().warehouse)
        store = KeyStore(warehouse.client(database="tickettoken"))
        api = ApiServer(warehouse, free_port(), base / "api.log").start()
        try:
            yield warehouse, api, store
        finally:
            api.stop()
    finally:
        warehouse.stop()


@contextmanager
def bare_app() -> Iterator[int]:
    """`bench/bare_app.py` on a free port, once it answers; its port."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.bare_app", str(port)])
    try:
        wait_for_http(f"http://127.0.0.1:{port}/schema")
        yield port
    finally:
        process.terminate()
        process.wait(30)

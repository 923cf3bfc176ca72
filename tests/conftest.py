"""Session-wide fixtures: real processes on free ports in temporary directories."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from api.auth.keys import KeyStore, Scope
from tests.support import ApiServer, WarehouseServer, free_port, start_redis, stop_process
from warehouse.migrate import migrate


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseServer]:
    """One migrated warehouse server, shared by the tests that only read and write their own tables."""
    base = tmp_path_factory.mktemp("warehouse")
    server = WarehouseServer(data_dir=base / "data", port=free_port(), log_path=base / "server.log").start()
    client = server.client()
    migrate(client, server.settings().warehouse)
    client.close()
    yield server
    server.stop()


@pytest.fixture
def client(warehouse: WarehouseServer) -> Iterator[Client]:
    connection = warehouse.client()
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free port, without persistence."""
    port = free_port()
    process = start_redis(port, tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    stop_process(process)


@pytest.fixture(scope="session")
def keys(warehouse: WarehouseServer) -> dict[str, str]:
    """Keys by role: admin, ingest (any organizer), read, and ingest bound to org-1 / org-2."""
    store = KeyStore(warehouse.client(database="tickettoken"))
    made = {
        "admin": store.create({Scope.ADMIN}),
        "ingest": store.create({Scope.INGEST}),
        "read": store.create({Scope.READ}),
        "org1": store.create({Scope.INGEST}, organizer_id="org-1"),
        "org2": store.create({Scope.INGEST}, organizer_id="org-2"),
    }
    return {role: key for role, (key, _) in made.items()}


@pytest.fixture(scope="session")
def api_server(warehouse: WarehouseServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The real API (uvicorn, one worker) on the shared warehouse."""
    server = ApiServer(warehouse, free_port(), tmp_path_factory.mktemp("api") / "api.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def http(api_server: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_server.url, timeout=60) as client:
        yield client

"""`tickettoken serve`: the API on port 3009, with the embedded warehouse started when needed."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import tempfile
import time
from contextlib import ExitStack

import uvicorn
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from api.auth.keys import KeyStore, Scope
from api.demo_traffic import DemoTraffic
from api.embedded import answers, embedded_when_needed
from tickettoken.logs import LOG_FORMAT
from tickettoken.settings import Settings, WarehouseSettings, get_settings
from warehouse.analyst import error_text
from warehouse.client import connect
from warehouse.migrate import MigrationError, migrate

log = logging.getLogger("tickettoken.serve")


def run_api(host: str, port: int, workers: int, *, demo: bool = False) -> int:
    """Serve until stopped; returns the exit code (1, after one line saying why, when it cannot start)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    settings = get_settings()
    traffic: DemoTraffic | None = None
    with ExitStack() as stack:
        try:
            _check_port_free(host, port)  # before the warehouse is started and migrated for nothing
            stack.enter_context(embedded_when_needed(settings.warehouse, supervise=True))
            _prepare_warehouse(settings)
        except (CannotStart, ClickHouseError, MigrationError, RuntimeError, ValueError) as error:
            log.error("cannot start: %s", error_text(error, settings.warehouse))
            return 1
        try:
            if demo:
                traffic = DemoTraffic(settings, host, port)
                traffic.start()
            os.environ["TICKETTOKEN_WORKERS"] = str(workers)  # each worker's settings: how many share the port
            if workers > 1:
                if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:  # else the operator's, kept
                    stack.callback(shutil.rmtree, _share_metrics_between_workers(), ignore_errors=True)
                _warn_of_what_workers_change(workers, shared=settings.redis.url is not None)
            uvicorn.run(
                "api.app:create_asgi",
                factory=True,
                host=host,
                port=port,
                workers=workers if workers > 1 else None,
                log_config=None,
                http="httptools",
                loop="uvloop",
                timeout_graceful_shutdown=30,
                timeout_keep_alive=settings.api.keep_alive_seconds,
                # A log line per request costs about a tenth of a small request's time; Prometheus counts them.
                access_log=settings.api.access_log,
                # Socket.IO sends one event to every subscriber: compressing it once per socket cost half of a
                # push's time to 1,000 sockets (measured), for updates of a few kilobytes. Off unless asked for.
                ws_per_message_deflate=settings.api.ws_compression,
            )
        finally:
            if traffic is not None:
                traffic.stop()  # before the warehouse it writes to
    return 0


class CannotStart(Exception):
    """What keeps the API from starting, said in one line."""


def _check_port_free(host: str, port: int) -> None:
    """Bind the API's address as uvicorn will (SO_REUSEADDR), and let it go."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            hint = ": is another `tickettoken serve` running? Another port: --port or TICKETTOKEN_PORT"
            raise CannotStart(
                f"cannot listen on {host}:{port} ({error.strerror or error})"
                + (hint if error.errno == errno.EADDRINUSE else "")
            ) from None


def _prepare_warehouse(settings: Settings) -> None:
    """Wait for the warehouse, migrate it, and when it holds no API keys make the first (on a local one) or say
    how to."""
    _wait_until_answering(settings.warehouse, settings.api.warehouse_wait_seconds)
    client = connect(settings.warehouse)
    try:
        for name in migrate(client, settings.warehouse):
            log.info("applied migration %s", name)
        _first_admin_key(connect(settings.warehouse, database=settings.warehouse.database), settings.warehouse)
    finally:
        client.close()


def _wait_until_answering(warehouse: WarehouseSettings, seconds: float) -> None:
    """A warehouse elsewhere may still be starting (a compose file starts the API beside it): wait, saying so,
    rather than fail at the first refused connection."""
    if answers(warehouse):
        return
    log.info("waiting up to %gs for the warehouse at %s to answer", seconds, warehouse.address)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(1.0)
        if answers(warehouse):
            return
    raise CannotStart(
        f"the warehouse at {warehouse.address} did not answer within {seconds:g}s (TICKETTOKEN_WAREHOUSE_WAIT_SECONDS)"
    )


def _share_metrics_between_workers() -> str:
    """Prometheus multiprocess mode, so /metrics on any worker reports all of them; returns the directory the
    workers' counters go to, to be removed when they have stopped.

    A new temporary directory each run: counters of an earlier run must not add to this one's, and the data
    directory may not be writable (the container image runs as `nobody`, against a ClickHouse server)."""
    directory = tempfile.mkdtemp(prefix="tickettoken-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def _first_admin_key(client: Client, warehouse: WarehouseSettings) -> None:
    """With no keys at all: on a local warehouse, make an admin key and print it (once); on a server, where
    printing a key to a shared log would hand it to whoever reads the log, say how to make one."""
    store = KeyStore(client)
    try:
        if store.list():
            return
        if not warehouse.is_embedded:
            log.warning(
                "the warehouse at %s holds no API keys yet, so every request but /health and /ready gets 401:"
                " make one with `tickettoken keys create --scope admin --name <who>`",
                warehouse.address,
            )
            return
        key, record = store.create({Scope.ADMIN}, name="local admin (first start)")
    finally:
        client.close()
    banner = "=" * 72
    print(  # noqa: T201 - shown to the person who ran `make run`, once
        f"{banner}\nA local admin API key was made on this first start (id {record.key_id}); it is shown once:\n\n"
        f"    {key}\n\nSend it as `X-API-Key: <key>`. More keys: `uv run tickettoken keys create --scope ...`"
        f"\n{banner}",
        flush=True,
    )


def _warn_of_what_workers_change(workers: int, *, shared: bool) -> None:
    log.warning(
        "%d workers share one port: Socket.IO takes websocket connections only (socket.io-client: transports:"
        " ['websocket']), since long-polling needs each session's requests on one process",
        workers,
    )
    if not shared:
        log.warning(
            "%d workers without TICKETTOKEN_REDIS_URL: a Socket.IO client hears only the ingest its own worker"
            " commits, milestones may go out once per worker, and the live views read the warehouse on each"
            " refresh; set TICKETTOKEN_REDIS_URL",
            workers,
        )

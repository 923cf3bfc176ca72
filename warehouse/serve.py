"""`tickettoken warehouse serve`: put the embedded engine on the network under uvicorn.

uvicorn gives HTTP/1.1 keep-alive, chunked request bodies, TCP_NODELAY (asyncio sets it on every TCP
transport) and the graceful stop: on SIGTERM or Ctrl-C it stops accepting, lets in-flight requests finish
(bounded by `GRACEFUL_SECONDS`), then the lifespan shutdown closes the engine so that the next start opens
the same directory with everything committed.
"""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import logging.handlers
import os
from dataclasses import replace
from pathlib import Path

import uvicorn

from tickettoken.logs import LOG_FORMAT
from tickettoken.settings import WarehouseSettings
from warehouse.long_urls import LongUrlHttpToolsProtocol
from warehouse.server import QUERY_LOGGER, WarehouseApp
from warehouse.users import Users

GRACEFUL_SECONDS = 30
KEEP_ALIVE_SECONDS = 30
QUERY_LOG_BYTES = 64 * 1024 * 1024  # per file of the query log; the current one and three before it are kept
QUERY_LOG_KEPT = 3


class RefusedToListen(Exception):
    """Listening beyond loopback needs passwords for every user."""


class DirectoryInUse(RefusedToListen):
    """Another process has the engine's data directory open (chDB takes one process per directory)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen_address(host: str, settings: WarehouseSettings) -> None:
    if not is_loopback(host) and not Users.from_settings(settings).all_have_passwords:
        raise RefusedToListen(
            f"refusing to listen on {host}: set TICKETTOKEN_CLICKHOUSE_PASSWORD and TICKETTOKEN_ANALYST_PASSWORD "
            "first (without them only loopback addresses are allowed)"
        )


def check_directory_free(directory: Path) -> None:
    """Refuse a data directory another process has open. The engine locks its `status` file (flock) and a
    second one fails deep inside chDB, after which uvicorn exits with code 3 and a traceback; the file names
    the process that holds it."""
    status = directory / "status"
    if not status.exists():
        return
    with status.open("rb") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ", ".join(line.strip() for line in held.read(256).decode("utf-8", "replace").splitlines()[:2])
            raise DirectoryInUse(
                f"{directory} is in use by another warehouse ({holder or 'unknown process'}): stop it, or give this"
                " one another data directory (TICKETTOKEN_DATA_DIR)"
            ) from None
        fcntl.flock(held, fcntl.LOCK_UN)


def log_queries_to(path: Path) -> None:
    """The line per query goes to `path` (rotated by size) instead of standard error, which keeps the rest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=QUERY_LOG_BYTES, backupCount=QUERY_LOG_KEPT)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    query_log = logging.getLogger(QUERY_LOGGER)
    query_log.addHandler(handler)
    query_log.propagate = False


def serve(
    settings: WarehouseSettings, *, data_dir: Path | None, host: str, port: int, query_log: Path | None = None
) -> None:
    """Serve until SIGTERM/SIGINT. Blocks. `query_log`: a file for the line per query (else standard error)."""
    check_listen_address(host, settings)
    if data_dir is not None:
        settings = replace(settings, data_dir=data_dir.expanduser().resolve())
    check_directory_free(settings.warehouse_dir)
    # Times are UTC at rest: the engine's own time zone is UTC whatever the machine's is.
    os.environ["TZ"] = "UTC"
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    if query_log is not None:
        log_queries_to(query_log)
    config = uvicorn.Config(
        WarehouseApp(settings),
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        http=LongUrlHttpToolsProtocol,  # httptools, with URLs as long as ClickHouse takes
        loop="uvloop",
    )
    uvicorn.Server(config).run()

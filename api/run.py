"""`tickettoken serve`: the API on port 3009, with the embedded warehouse started when needed."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import uvicorn

from api.embedded import EmbeddedWarehouse, answers
from tickettoken.settings import get_settings
from warehouse.client import connect
from warehouse.migrate import migrate

log = logging.getLogger("tickettoken.serve")


def run_api(host: str, port: int, workers: int) -> int:
    """Serve until stopped; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_settings()
    embedded: EmbeddedWarehouse | None = None
    if settings.warehouse.is_embedded and not answers(settings.warehouse):
        embedded = EmbeddedWarehouse(settings.warehouse)
        embedded.start()
    try:
        client = connect(settings.warehouse)
        try:
            for name in migrate(client, settings.warehouse):
                log.info("applied migration %s", name)
        finally:
            client.close()
        if workers > 1:
            _share_metrics_between_workers(settings.warehouse.data_dir)
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers if workers > 1 else None,
            log_config=None,
            http="httptools",
            loop="uvloop",
            timeout_graceful_shutdown=30,
        )
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _share_metrics_between_workers(data_dir: Path) -> None:
    """Prometheus multiprocess mode, so /metrics on any worker reports all of them."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        return
    directory = data_dir / "prometheus"
    shutil.rmtree(directory, ignore_errors=True)  # counters of an earlier run would add to this one's
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)

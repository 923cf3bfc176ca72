"""`tickettoken serve --demo`: the demo market loader and live traffic as a child of the API process."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys

from api.auth.keys import KeyStore, Scope
from tickettoken.children import child_env
from tickettoken.settings import Settings
from warehouse.client import connect

log = logging.getLogger("tickettoken.serve")


class DemoTraffic:
    """`tickettoken demo --if-empty --live` against this API, with an ingest key of its own that is revoked
    when the API stops."""

    def __init__(self, settings: Settings, host: str, port: int) -> None:
        self.settings = settings
        self.url = f"http://{'127.0.0.1' if host in {'0.0.0.0', '::'} else host}:{port}"  # noqa: S104
        self.process: subprocess.Popen[bytes] | None = None
        self.key_id: str | None = None

    def _keys(self) -> KeyStore:
        warehouse = self.settings.warehouse
        return KeyStore(connect(warehouse, database=warehouse.database))

    def start(self) -> None:
        key, record = self._keys().create({Scope.INGEST}, name="demo traffic")
        self.key_id = record.key_id
        command = [sys.executable, "-m", "tickettoken.cli", "demo", "--if-empty", "--live", "--url", self.url]
        log.info("demo: loading a market when no sales are stored, then live traffic (%s)", " ".join(command))
        self.process = subprocess.Popen(command, env=child_env({"TICKETTOKEN_API_KEY": key}))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.key_id is not None:
            try:
                self._keys().revoke(self.key_id)
            except Exception as error:  # noqa: BLE001 - stopping goes on; the key is named "demo traffic"
                log.warning("demo: could not revoke key %s: %s", self.key_id, error)

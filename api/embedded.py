"""Starting the embedded warehouse as a child of `tickettoken serve` (or of a one-shot command such as
`tickettoken keys create`) when nothing answers at its URL (`embedded_when_needed`)."""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path

from tickettoken.children import child_env
from tickettoken.settings import EMBEDDED_HEADER, WarehouseSettings
from warehouse.client import connect

log = logging.getLogger("tickettoken.serve")

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 40.0  # beyond the server's own graceful wait
WATCH_SECONDS = 1.0  # how often a supervised warehouse is looked at
RESTART_FIRST_DELAY_SECONDS = 1.0  # before starting it again; doubled after each failed start, up to:
RESTART_MAX_DELAY_SECONDS = 30.0


def answers(settings: WarehouseSettings, timeout: float = 1.0) -> bool:
    """True when something answers /ping at the warehouse URL."""
    return _ping(settings, timeout) is not None


def _ping(settings: WarehouseSettings, timeout: float = 1.0) -> Message | None:
    """The headers of the answer to /ping at the warehouse URL; None when nothing answers it."""
    if not settings.clickhouse_url.startswith(("http://", "https://")):
        raise ValueError(f"TICKETTOKEN_CLICKHOUSE_URL must be http(s), got {settings.clickhouse_url!r}")
    try:
        with urllib.request.urlopen(  # noqa: S310 - the scheme is checked just above
            settings.clickhouse_url.rstrip("/") + "/ping", timeout=timeout
        ) as response:
            return response.headers if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def _check_it_is_ours(settings: WarehouseSettings) -> None:
    """An embedded warehouse already answering at the URL must be the one on the configured data directory:
    another's (a second service given its own directory but the same warehouse port) would take this one's writes
    into its directory, and stop under it when its own service stops."""
    client = connect(settings)
    try:
        rows = client.query("SELECT path FROM system.disks WHERE name = 'default'").result_rows
    finally:
        client.close()
    serving = Path(str(rows[0][0])).resolve() if rows else None
    if serving != settings.warehouse_dir.resolve():
        where = serving.parent if serving is not None else "an unknown directory"
        raise RuntimeError(
            f"the embedded warehouse answering at {settings.address} keeps its data in {where}, not in"
            f" {settings.data_dir} (TICKETTOKEN_DATA_DIR): stop it, or give this one a warehouse port of its own"
            " (TICKETTOKEN_CLICKHOUSE_URL)"
        )
    log.info("the embedded warehouse on %s is already running at %s: using it", settings.data_dir, settings.address)


class EmbeddedWarehouse:
    """`tickettoken warehouse serve` as a child process, stopped with SIGTERM (a clean engine close)."""

    def __init__(self, settings: WarehouseSettings, *, output: Path | None = None) -> None:
        """`output`: a file for the server's own log lines (else they go to this process's standard error)."""
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.query_log = settings.query_log or settings.data_dir / "logs" / "warehouse-queries.log"
        self.output = output
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # a start again by the watcher, or the stop: one at a time
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "tickettoken.cli", "warehouse", "serve"]
        command += ["--host", self.settings.host, "--port", str(self.settings.port)]
        command += ["--data-dir", str(self.settings.data_dir)]
        # A line per query would bury the API's own lines (live traffic makes dozens a second): they go to a file.
        command += ["--query-log", str(self.query_log)]
        log.info("starting the embedded warehouse: %s (its query log: %s)", " ".join(command), self.query_log)
        sink = None
        if self.output is not None:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            sink = self.output.open("ab")
        with sink or contextlib.nullcontext():
            self.process = subprocess.Popen(command, env=child_env(), stdout=sink, stderr=sink)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                where = f" (its log: {self.output})" if self.output else ""
                raise RuntimeError(f"the embedded warehouse exited with code {self.process.returncode}{where}")
            if answers(self.settings, timeout=0.5):
                return
            time.sleep(0.1)
        self._terminate()
        raise RuntimeError(f"the embedded warehouse did not answer within {START_TIMEOUT_SECONDS:g}s")

    def supervise(self) -> None:
        """Start it again whenever it exits on its own (killed for its memory, crashed), from a thread that
        watches it: `tickettoken serve` answered 503 for good after its warehouse died."""
        self._watcher = threading.Thread(target=self._watch, name="embedded-warehouse-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        delay = RESTART_FIRST_DELAY_SECONDS
        while not self._stopping.wait(WATCH_SECONDS):
            process = self.process
            if process is None or process.poll() is None:
                continue
            log.error("the embedded warehouse exited with code %s; starting it again in %gs", process.returncode, delay)
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self.start()
                except Exception as error:  # noqa: BLE001 - the watcher goes on whatever stopped this start
                    log.error("the embedded warehouse did not start again: %s", error)
                    delay = min(delay * 2, RESTART_MAX_DELAY_SECONDS)
                else:
                    delay = RESTART_FIRST_DELAY_SECONDS

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:  # after a start again under way: that one is stopped too
            self._terminate()

    def _terminate(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            log.error("the embedded warehouse did not stop in time; killing it")
            self.process.kill()
            self.process.wait()


@contextmanager
def embedded_when_needed(
    settings: WarehouseSettings, *, output: Path | None = None, supervise: bool = False
) -> Iterator[bool]:
    """When the warehouse is the embedded one and nothing answers (the service is not running), start it for the
    block's length and yield True; else yield False and leave it be (a warehouse elsewhere that does not answer
    is the caller's error to report). `output`: as for `EmbeddedWarehouse`; `supervise`: start it again should
    it exit meanwhile (the service does; a one-shot command need not)."""
    if not settings.is_embedded:
        yield False
        return
    answer = _ping(settings)
    if answer is not None:
        if answer.get(EMBEDDED_HEADER) is not None:
            _check_it_is_ours(settings)
        yield False
        return
    embedded = EmbeddedWarehouse(settings, output=output)
    embedded.start()
    if supervise:
        embedded.supervise()
    try:
        yield True
    finally:
        embedded.stop()

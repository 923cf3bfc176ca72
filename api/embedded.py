"""Starting the embedded warehouse as a child of `tickettoken serve` (or of a one-shot command such as
`tickettoken keys create`) when nothing answers at its URL (`embedded_when_needed`)."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tickettoken.settings import WarehouseSettings

log = logging.getLogger("tickettoken.serve")

PR_SET_PDEATHSIG = 1
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 40.0  # beyond the server's own graceful wait


def answers(settings: WarehouseSettings, timeout: float = 1.0) -> bool:
    """True when something answers /ping at the warehouse URL."""
    if not settings.clickhouse_url.startswith(("http://", "https://")):
        raise ValueError(f"TICKETTOKEN_CLICKHOUSE_URL must be http(s), got {settings.clickhouse_url!r}")
    try:
        with urllib.request.urlopen(  # noqa: S310 - the scheme is checked just above
            settings.clickhouse_url.rstrip("/") + "/ping", timeout=timeout
        ) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop_with_parent() -> None:
    """In the child: have the kernel send SIGTERM when the parent dies, however it dies.

    uvicorn ends its process by re-raising the signal that stopped it, so the parent's own cleanup may
    never run; this way the warehouse still gets its graceful stop (Linux's PR_SET_PDEATHSIG).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedWarehouse:
    """`tickettoken warehouse serve` as a child process, stopped with SIGTERM (a clean engine close)."""

    def __init__(self, settings: WarehouseSettings, *, output: Path | None = None) -> None:
        """`output`: a file for the server's own log lines (else they go to this process's standard error)."""
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.query_log = settings.query_log or settings.data_dir / "logs" / "warehouse-queries.log"
        self.output = output

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
        # The parent has no other threads yet when it starts the child, so preexec_fn is safe here.
        with sink or contextlib.nullcontext():
            self.process = subprocess.Popen(
                command,
                env=os.environ.copy(),
                preexec_fn=stop_with_parent,  # noqa: PLW1509
                stdout=sink,
                stderr=sink,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                where = f" (its log: {self.output})" if self.output else ""
                raise RuntimeError(f"the embedded warehouse exited with code {self.process.returncode}{where}")
            if answers(self.settings, timeout=0.5):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the embedded warehouse did not answer within {START_TIMEOUT_SECONDS:g}s")

    def stop(self) -> None:
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
def embedded_when_needed(settings: WarehouseSettings, *, output: Path | None = None) -> Iterator[bool]:
    """When the warehouse is the embedded one and nothing answers (the service is not running), start it for the
    block's length and yield True; else yield False and leave it be (a warehouse elsewhere that does not answer
    is the caller's error to report). `output`: as for `EmbeddedWarehouse`."""
    if not settings.is_embedded or answers(settings):
        yield False
        return
    embedded = EmbeddedWarehouse(settings, output=output)
    embedded.start()
    try:
        yield True
    finally:
        embedded.stop()

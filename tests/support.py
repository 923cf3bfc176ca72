"""Starting and stopping the real processes the tests drive."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import clickhouse_connect
import httpx
from clickhouse_connect.driver.client import Client

from tickettoken.settings import RedisSettings, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
RW_PASSWORD = "rw-secret"
ANALYST_PASSWORD = "analyst-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_http(url: str, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback test URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered {url} within {timeout}s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 45.0) -> int:
    """SIGTERM, as an operator would; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def start_logged(command: list[str], env: dict[str, str], log_path: Path, ready_url: str) -> subprocess.Popen[bytes]:
    """Start a server process with its output appended to `log_path`; return once `ready_url` answers."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    wait_for_http(ready_url, process=process)
    return process


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETTOKEN_")}
    env.update(extra or {})
    return env


def tickettoken(*args: str) -> list[str]:
    return [sys.executable, "-m", "tickettoken.cli", *args]


class _Served:
    """What the test servers share: a port on loopback and, once started, a process."""

    port: int
    process: subprocess.Popen[bytes] | None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def stop(self) -> int:
        return stop_process(self.process) if self.process else 0


@dataclass
class WarehouseServer(_Served):
    """A real `tickettoken warehouse serve` on a free port over its own data directory."""

    data_dir: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return cli_env(
            {
                "TICKETTOKEN_DATA_DIR": str(self.data_dir),
                "TICKETTOKEN_CLICKHOUSE_URL": self.url,
                "TICKETTOKEN_CLICKHOUSE_PASSWORD": RW_PASSWORD,
                "TICKETTOKEN_ANALYST_PASSWORD": ANALYST_PASSWORD,
                "TICKETTOKEN_ANALYST_MAX_EXECUTION_TIME": "5",
            }
        )

    def start(self) -> WarehouseServer:
        self.process = start_logged(
            tickettoken("warehouse", "serve", "--port", str(self.port)), self.env(), self.log_path, self.url + "/ping"
        )
        return self

    def client(self, **kwargs: Any) -> Client:
        options: dict[str, Any] = {"username": "default", "password": RW_PASSWORD, **kwargs}
        return clickhouse_connect.get_client(host="127.0.0.1", port=self.port, interface="http", **options)

    def analyst(self, **kwargs: Any) -> Client:
        return self.client(username="analyst", password=ANALYST_PASSWORD, **kwargs)

    def settings(self, *, redis_url: str | None = None, **warehouse: Any) -> Settings:
        """The service's settings pointed at this server (as its read-write user), with any overrides."""
        base = load_settings()
        return replace(
            base,
            warehouse=replace(base.warehouse, clickhouse_url=self.url, password=RW_PASSWORD, **warehouse),
            redis=RedisSettings(url=redis_url),
        )

    def run_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`tickettoken <args>` configured for this server, as an operator would run it."""
        return subprocess.run(
            tickettoken(*args), env=self.env(), cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("redis-server is not installed: `make services` installs it")
    return found


def start_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """A real redis-server on loopback at `port`, without persistence, answering PING."""
    command = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL)
    wait_for_redis(port, process)
    return process


def wait_for_redis(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("redis-server did not answer PING")


@dataclass
class ApiServer(_Served):
    """A real `tickettoken serve` (uvicorn) in front of a warehouse server."""

    warehouse: WarehouseServer
    port: int
    log_path: Path
    extra_env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> ApiServer:
        env = {**self.warehouse.env(), **(self.extra_env or {})}
        self.process = start_logged(
            tickettoken("serve", "--port", str(self.port)), env, self.log_path, self.url + "/health"
        )
        return self

    def ingest(self, key: str, stream: str, record: dict[str, Any]) -> None:
        """POST one record to /api/ingest/<stream>; it must be accepted (200)."""
        response = httpx.post(f"{self.url}/api/ingest/{stream}", json=record, headers={"X-API-Key": key})
        assert response.status_code == 200, response.text

    def metric(self, admin_key: str, name: str, **labels: str) -> float:
        """A Prometheus counter of this process with these labels (`stream="sale"` when none are given; 0 before
        its first increment), read from /metrics."""
        body = self.metrics_text(admin_key)
        wanted = ",".join(f'{label}="{value}"' for label, value in (labels or {"stream": "sale"}).items())
        found = re.search(rf"^{re.escape(name)}\{{{re.escape(wanted)}\}} (\S+)$", body, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    def metrics_text(self, admin_key: str) -> str:
        """This process's /metrics."""
        headers = {"Authorization": f"Bearer {admin_key}"}
        request = urllib.request.Request(self.url + "/metrics", headers=headers)  # noqa: S310 - loopback test URL
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback test URL
            return str(response.read().decode())


@contextmanager
def api_pair(warehouse: WarehouseServer, redis_url: str, directory: Path) -> Iterator[tuple[ApiServer, ApiServer]]:
    """Two API processes on one warehouse sharing a Redis (as two workers or two hosts would); both stopped after,
    whichever of them started."""
    shared = {"TICKETTOKEN_REDIS_URL": redis_url}
    with contextlib.ExitStack() as stack:
        servers = []
        for name in ("first", "second"):
            server = ApiServer(warehouse, free_port(), directory / f"{name}.log", shared)
            stack.callback(server.stop)
            servers.append(server.start())
        yield servers[0], servers[1]

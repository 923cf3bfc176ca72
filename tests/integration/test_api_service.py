"""`tickettoken serve`: the API process, its embedded warehouse child, health, readiness, docs, metrics."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
import socketio  # type: ignore[import-untyped]  # python-socketio ships no type information
from litestar.testing import TestClient

from api.app import create_app
from tests import factories as f
from tests.support import ROOT, ApiServer, WarehouseServer, cli_env, free_port, stop_process, tickettoken, wait_for_http
from tickettoken.settings import RedisSettings
from warehouse.migrate import migrate


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback test URL
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback test URL
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(params=[1])
def api_with_embedded_warehouse(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """`tickettoken serve` with `request.param` workers and the warehouse URL on a free loopback port."""
    api_port, warehouse_port = free_port(), free_port()
    env = cli_env(
        {
            "TICKETTOKEN_DATA_DIR": str(tmp_path / "data"),
            "TICKETTOKEN_CLICKHOUSE_URL": f"http://127.0.0.1:{warehouse_port}",
        }
    )
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen(
        tickettoken("serve", "--port", str(api_port), "--workers", str(request.param)),
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{api_port}"
    wait_for_http(api + "/health", timeout=90, process=process)
    yield api, f"http://127.0.0.1:{warehouse_port}", process
    stop_process(process)


def _printed_admin_key(log: Path) -> str:
    keys = [line.strip() for line in log.read_text().splitlines() if line.startswith("    tt_")]
    assert len(keys) == 1, "the first start prints exactly one admin key"
    return keys[0]


@pytest.mark.parametrize("api_with_embedded_warehouse", [1, 2], indirect=True)
def test_serve_starts_migrates_and_stops_its_own_warehouse(
    api_with_embedded_warehouse: tuple[str, str, subprocess.Popen[bytes]],
) -> None:
    api, warehouse_url, process = api_with_embedded_warehouse
    assert _get(api + "/health") == (200, b'{"status":"ok"}')
    status, body = _get(api + "/ready")
    assert status == 200
    ready = json.loads(body)
    assert ready["ready"] is True
    assert [check["name"] for check in ready["checks"]] == ["warehouse"]
    assert _get(warehouse_url + "/ping") == (200, b"Ok.\n")
    # The child was migrated before the API came up.
    assert ready["checks"][0]["ok"] is True

    children = psutil.Process(process.pid).children(recursive=True)
    commands = [" ".join(child.cmdline()) for child in children]
    assert any("warehouse serve" in command for command in commands)

    stop_process(process)
    _, alive = psutil.wait_procs(children, timeout=45)
    assert not alive, f"left running after the API stopped: {alive}"
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(warehouse_url + "/ping", timeout=2)  # noqa: S310 - loopback test URL


def test_the_embedded_warehouse_logs_its_queries_to_a_file_not_the_console(
    api_with_embedded_warehouse: tuple[str, str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    api, _, process = api_with_embedded_warehouse
    assert _get(api + "/ready")[0] == 200  # asks the warehouse
    stop_process(process)
    query_log = tmp_path / "data" / "logs" / "warehouse-queries.log"
    assert "tickettoken.warehouse.query user=default" in query_log.read_text()
    console = (tmp_path / "api.log").read_text()
    assert "tickettoken.warehouse.query" not in console
    assert f"its query log: {query_log}" in console
    assert "tickettoken.warehouse warehouse engine open" in console  # the warehouse's other lines stay


def test_arrow_buffers_come_from_the_system_allocator(api_server: ApiServer) -> None:
    # `tickettoken serve` chooses it before Arrow's first allocation, which is the only time Arrow reads it.
    assert "Arrow buffers from the system allocator" in api_server.log_path.read_text()


@pytest.mark.parametrize("api_with_embedded_warehouse", [2], indirect=True)
def test_serve_runs_the_requested_number_of_workers(
    api_with_embedded_warehouse: tuple[str, str, subprocess.Popen[bytes]],
) -> None:
    api, _, process = api_with_embedded_warehouse
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = [
            child
            for child in psutil.Process(process.pid).children(recursive=True)
            if "warehouse" not in " ".join(child.cmdline())
        ]
        if len(workers) >= 2:
            break
        time.sleep(0.2)
    assert len(workers) >= 2
    assert {_get(api + "/health")[0] for _ in range(20)} == {200}


@pytest.mark.parametrize("api_with_embedded_warehouse", [2], indirect=True)
def test_several_workers_take_socket_io_over_websockets_only_and_say_so(
    api_with_embedded_warehouse: tuple[str, str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """Workers share the port, so a long-polling session's requests met other workers: socket.io-client's
    default (polling first) failed with `xhr post error` nearly every time. Now polling is refused at once and
    the start says why; websockets connect whichever worker they meet."""
    api, _, _ = api_with_embedded_warehouse
    log = (tmp_path / "api.log").read_text()
    assert "Socket.IO takes websocket connections only" in log
    assert "workers without TICKETTOKEN_REDIS_URL" in log
    key = _printed_admin_key(tmp_path / "api.log")
    for transport, connects in (("websocket", True), ("polling", False)):
        for _ in range(4):
            client = socketio.Client(reconnection=False)
            try:
                client.connect(api, auth={"key": key}, transports=[transport], wait_timeout=10)
            except socketio.exceptions.ConnectionError:
                assert not connects, transport
            else:
                assert connects, transport
                client.disconnect()


def test_openapi_and_metrics(
    api_with_embedded_warehouse: tuple[str, str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    api, _, _ = api_with_embedded_warehouse
    status, body = _get(api + "/schema/openapi.json")
    assert status == 200
    schema = json.loads(body)
    assert {"/health", "/ready"} <= set(schema["paths"])
    ingest = {path: spec["post"]["operationId"] for path, spec in schema["paths"].items() if "/ingest/" in path}
    assert ingest == {
        "/api/ingest/sale": "ingestSales", "/api/ingest/attendance": "ingestAttendance",
        "/api/ingest/revenue": "ingestRevenue", "/api/ingest/social": "ingestSocial",
        "/api/ingest/event": "ingestEvents", "/api/ingest/venue": "ingestVenues",
        "/api/ingest/quarantine/{quarantine_id}/replay": "replayQuarantine",
    }  # fmt: skip
    assert _get(api + "/metrics")[0] == 401
    assert _get(api + "/metrics", {"Authorization": "Bearer wrong"})[0] == 401
    _get(api + "/health")
    assert _get(api + "/no/such/path")[0] == 404
    assert _get(api + "/api/ingest/sale")[0] == 405
    assert _get(api + "/socket.io/?EIO=4&transport=polling")[0] == 200  # Engine.IO's handshake
    status, body = _get(api + "/metrics", {"Authorization": f"Bearer {_printed_admin_key(tmp_path / 'api.log')}"})
    assert status == 200
    counted = dict(re.findall(r'tickettoken_requests_total\{(method="[^}]*")\} (\S+)', body.decode()))
    assert float(counted['method="GET",path="/health",status_code="200"']) >= 1
    # Requests no route took were counted too, under one label whatever their path; Socket.IO under its mount.
    assert float(counted['method="GET",path="(unmatched)",status_code="404"']) >= 1
    assert float(counted['method="GET",path="(unmatched)",status_code="405"']) >= 1
    assert float(counted['method="GET",path="/socket.io",status_code="200"']) >= 1


def test_ready_checks_redis_when_configured(warehouse: WarehouseServer, redis_url: str) -> None:
    settings = warehouse.settings(redis_url=redis_url, database=f"ready_{uuid.uuid4().hex[:8]}")
    with TestClient(app=create_app(settings)) as client:
        response = client.get("/ready")
        assert response.status_code == 503, "ready before the warehouse was migrated"
        assert "UNKNOWN_DATABASE" in response.json()["checks"][0]["detail"]
        migrate(warehouse.client(), settings.warehouse)
        response = client.get("/ready")
        assert response.status_code == 200
        assert [(c["name"], c["ok"]) for c in response.json()["checks"]] == [("warehouse", True), ("redis", True)]

    # Redis down: still ready (each worker serves on its own), but said to be degraded. A 503 here took every
    # instance out of its load balancer at a Redis blip, and ingest with it.
    down = replace(settings, redis=RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0"))
    with TestClient(app=create_app(down)) as client:
        response = client.get("/ready")
        assert response.status_code == 200
        assert (response.json()["ready"], response.json()["degraded"]) == (True, True)
        checks = {c["name"]: c for c in response.json()["checks"]}
        assert (checks["warehouse"]["ok"], checks["warehouse"]["required"]) == (True, True)
        assert (checks["redis"]["ok"], checks["redis"]["required"]) == (False, False)
        assert "ConnectionError" in checks["redis"]["detail"]


def _refused_start(extra: dict[str, str]) -> str:
    """`tickettoken serve` that cannot start: exit code 1 and what it printed, which must hold no traceback."""
    done = subprocess.run(
        tickettoken("serve"), env=cli_env(extra), cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    printed = done.stdout + done.stderr
    assert done.returncode == 1, printed
    assert "Traceback" not in printed, printed
    return printed


def test_serve_says_in_one_line_why_it_cannot_start(
    api_with_embedded_warehouse: tuple[str, str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """A second `serve` met a traceback: the port taken (after starting and migrating the warehouse for
    nothing), the data directory held by the running warehouse (uvicorn's "exited with code 3" under chDB's
    lock error), a wrong password or a URL that is not HTTP. Given a data directory of its own but the running
    warehouse's port, it served on that warehouse (on the other directory) without a word."""
    api, warehouse_url, _ = api_with_embedded_warehouse
    api_port = api.rsplit(":", 1)[1]
    same = {"TICKETTOKEN_DATA_DIR": str(tmp_path / "data"), "TICKETTOKEN_CLICKHOUSE_URL": warehouse_url}
    taken = _refused_start({**same, "TICKETTOKEN_PORT": api_port})
    assert f"cannot start: cannot listen on 127.0.0.1:{api_port} (Address already in use)" in taken
    assert "starting the embedded warehouse" not in taken and "migration" not in taken
    elsewhere = {**same, "TICKETTOKEN_PORT": str(free_port())}
    held = _refused_start({**elsewhere, "TICKETTOKEN_CLICKHOUSE_URL": f"http://127.0.0.1:{free_port()}"})
    assert f"{tmp_path / 'data' / 'warehouse'} is in use by another warehouse (PID: " in held
    wrong = _refused_start({**elsewhere, "TICKETTOKEN_CLICKHOUSE_PASSWORD": "wrong"})
    assert "cannot start: Code: 516. DB::Exception: default: Authentication failed" in wrong
    scheme = _refused_start({**elsewhere, "TICKETTOKEN_CLICKHOUSE_URL": "tcp://127.0.0.1:9000"})
    assert "cannot start: TICKETTOKEN_CLICKHOUSE_URL must be http(s)" in scheme
    another = _refused_start({**elsewhere, "TICKETTOKEN_DATA_DIR": str(tmp_path / "another")})
    assert (
        f"cannot start: the embedded warehouse answering at {warehouse_url} keeps its data in {tmp_path / 'data'},"
        f" not in {tmp_path / 'another'} (TICKETTOKEN_DATA_DIR)" in another
    )
    assert not (tmp_path / "another").exists()
    # A one-shot command likewise; on the warehouse's own directory it runs on it.
    for data_dir, exit_code in ((tmp_path / "another", 1), (tmp_path / "data", 0)):
        env = cli_env({**same, "TICKETTOKEN_DATA_DIR": str(data_dir)})
        listed = subprocess.run(tickettoken("keys", "list"), env=env, cwd=ROOT, capture_output=True, text=True,
                                timeout=60, check=False)  # fmt: skip
        assert listed.returncode == exit_code, listed.stderr
        assert ("keeps its data in" in listed.stderr) == (exit_code == 1) and "Traceback" not in listed.stderr


def test_serve_waits_for_a_warehouse_that_is_still_starting(tmp_path: Path) -> None:
    """As a compose file starts the API beside ClickHouse: the API failed at the first refused connection.

    As in docker/, two workers whose data directory cannot be made (the image runs as `nobody`): the API
    needs none beside a warehouse server, but failed making one for the workers' shared metrics."""
    host, port, api_port = "127.0.0.2", free_port(), free_port()  # loopback, but not the embedded URL
    (tmp_path / "a-file").write_text("")
    env = cli_env({"TICKETTOKEN_DATA_DIR": str(tmp_path / "a-file" / "data"), "TICKETTOKEN_PORT": str(api_port),
                   "TICKETTOKEN_CLICKHOUSE_URL": f"http://{host}:{port}", "TICKETTOKEN_WORKERS": "2"})  # fmt: skip
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        api = subprocess.Popen(tickettoken("serve"), env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while f"waiting up to 60s for the warehouse at http://{host}:{port}" not in log.read_text():
            assert api.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(2)  # the API goes on waiting
        assert api.poll() is None
        warehouse = subprocess.Popen(
            tickettoken("warehouse", "serve", "--host", host, "--port", str(port)),
            env=cli_env({"TICKETTOKEN_DATA_DIR": str(tmp_path / "warehouse")}),
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for_http(f"http://127.0.0.1:{api_port}/ready", timeout=90, process=api)
            assert "applied migration" in log.read_text()
            # No key is printed for a server's shared log; it says how to make one instead.
            assert "holds no API keys yet" in log.read_text()
            assert "tt_" not in log.read_text()
        finally:
            stop_process(warehouse)
    finally:
        stop_process(api)


def _warehouse_child(api: subprocess.Popen[bytes]) -> psutil.Process | None:
    """The running `warehouse serve` under `api` (a dead one not yet reaped has no command line)."""
    for child in psutil.Process(api.pid).children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "warehouse serve" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


def test_serve_starts_its_warehouse_again_when_it_dies(
    api_with_embedded_warehouse: tuple[str, str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """Killed (for its memory, say), the embedded warehouse stayed dead and the API answered 503 for good."""
    api, _, process = api_with_embedded_warehouse
    first = _warehouse_child(process)
    assert first is not None
    first.kill()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        second = _warehouse_child(process)
        if second is not None and second.pid != first.pid and _get(api + "/ready")[0] == 200:
            break
        time.sleep(0.5)
    assert second is not None and second.pid != first.pid, "no warehouse started again"
    assert _get(api + "/ready")[0] == 200
    assert "the embedded warehouse exited with code -9; starting it again" in (tmp_path / "api.log").read_text()
    request = urllib.request.Request(  # noqa: S310 - loopback test URL
        api + "/api/ingest/venue", data=json.dumps(f.venue()).encode(), method="POST",
        headers={"X-API-Key": _printed_admin_key(tmp_path / "api.log"), "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback test URL
        assert json.loads(answer.read())["accepted"] == 1
    process.kill()  # the API killed outright: the warehouse its watcher started goes with it
    process.wait(10)
    _, alive = psutil.wait_procs([second], timeout=45)
    assert not alive, "the warehouse started again outlived the API"


def _socket_lines(server: ApiServer, key: str, *, last: str | None) -> str:
    """What the API logs while one Socket.IO client connects over a websocket and leaves, then asks for /health:
    read once `last` is logged, or (None) after half a second. The API's lines reach its log through a queue
    (Litestar's logging), so a line may come after the answer it belongs to."""
    start = server.log_path.stat().st_size
    client = socketio.Client(reconnection=False)
    client.connect(server.url, auth={"key": key}, transports=["websocket"], wait_timeout=10)
    client.disconnect()
    assert _get(server.url + "/health")[0] == 200
    deadline = time.monotonic() + (10 if last else 0.5)
    while True:
        with server.log_path.open("rb") as log:
            log.seek(start)
            text = log.read().decode("utf-8", "replace")
        if (last is not None and last in text) or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_websocket_connections_are_logged_with_the_access_log_only(
    api_server: ApiServer, warehouse: WarehouseServer, keys: dict[str, str], tmp_path: Path
) -> None:
    """uvicorn logged two lines a websocket ("[accepted]", "connection open") on its log of faults and warnings,
    whatever the access log setting: reconnecting clients buried the warnings."""
    logged = ApiServer(warehouse, free_port(), tmp_path / "api.log", extra_env={"TICKETTOKEN_ACCESS_LOG": "1"}).start()
    try:
        loud = _socket_lines(logged, keys["read"], last='"GET /health HTTP/1.1" 200')
    finally:
        logged.stop()
    assert '"WebSocket /?transport=websocket' in loud
    assert "[accepted]" in loud
    assert "connection open" in loud
    assert '"GET /health HTTP/1.1" 200' in loud  # the access log itself

    quiet = _socket_lines(api_server, keys["read"], last=None)
    for line in ("WebSocket", "connection open", "/health"):
        assert line not in quiet, quiet


def test_an_idle_connection_outlives_a_clients_pool(api_server: ApiServer) -> None:
    """uvicorn closed connections idle for 5 s, the idle time after which httpx's pool drops them: a client taking one
    just then sent its request into a closing socket (a POST lost; behind a proxy, a 502)."""
    request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{api_server.port}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", api_server.port), timeout=10) as conn:
        for pause in (0.0, 6.0):
            time.sleep(pause)
            conn.sendall(request)
            answer = b""
            while not answer.endswith(b'{"status":"ok"}') and (piece := conn.recv(4096)):
                answer += piece
            assert answer.startswith(b"HTTP/1.1 200 OK"), (pause, answer)

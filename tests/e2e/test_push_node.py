"""The npm package socket.io-client v4 (tests/e2e/node, installed by `make test` with `npm ci`) subscribes with a
read key and hears `sale-update` with the right totals; a key of another organizer is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from api.auth.keys import KeyStore, Scope
from tests import factories as f
from tests.support import ApiServer, WarehouseServer

NODE_DIR = Path(__file__).parent / "node"


def _node(api: ApiServer, key: str, event_id: str) -> subprocess.Popen[str]:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "socket.io-client").is_dir():
        pytest.fail("node and tests/e2e/node/node_modules are needed: `make test` installs them (npm ci)")
    return subprocess.Popen(
        [node, str(NODE_DIR / "subscribe.mjs"), api.url, key, event_id], stdout=subprocess.PIPE, text=True
    )


def _line(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    return dict(json.loads(process.stdout.readline()))


def _event(api: ApiServer, key: str) -> str:
    venue = f.venue()
    event = f.event(venue["venue_id"])
    for stream, record in (("venue", venue), ("event", event)):
        api.ingest(key, stream, record)
    return str(event["event_id"])


def test_socket_io_client_v4_hears_a_sale(api_server: ApiServer, keys: dict[str, str]) -> None:
    event_id = _event(api_server, keys["ingest"])
    process = _node(api_server, keys["read"], event_id)
    try:
        assert _line(process) == {"subscribed": {"ok": True, "event_id": event_id, "error": None}}
        sale = f.sale(event_id, tier="GA", quantity=4, unit_price="49.90")
        api_server.ingest(keys["ingest"], "sale", sale)
        update = _line(process)["sale-update"]
        assert (update["event_id"], update["tickets"], update["gross"]) == (event_id, 4, "199.60")
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()


def test_socket_io_client_v4_is_refused_another_organizers_event(
    api_server: ApiServer, keys: dict[str, str], warehouse: WarehouseServer
) -> None:
    event_id = _event(api_server, keys["ingest"])
    other, _ = KeyStore(warehouse.client(database="tickettoken")).create({Scope.READ}, organizer_id="org-2")
    process = _node(api_server, other, event_id)
    try:
        answer = _line(process)["subscribed"]
        assert answer["ok"] is False and "another organizer" in answer["error"]
    finally:
        process.kill()
    refused = _node(api_server, "tt_nope_nope", event_id)
    try:
        assert "connect_error" in _line(refused)
        assert refused.wait(timeout=30) == 2
    finally:
        refused.kill()

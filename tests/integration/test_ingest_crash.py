"""Acknowledged means committed: the API killed with SIGKILL mid-stream loses nothing and doubles nothing."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from api.auth.keys import KeyStore, Scope
from tests import factories as f
from tests.support import ApiServer, WarehouseServer, free_port
from warehouse.migrate import migrate


def _ready_warehouse(tmp_path: Path) -> tuple[WarehouseServer, str]:
    warehouse = WarehouseServer(tmp_path / "data", free_port(), tmp_path / "warehouse.log").start()
    migrate(warehouse.client(), warehouse.settings().warehouse)
    key, _ = KeyStore(warehouse.client(database="tickettoken")).create({Scope.INGEST})
    return warehouse, key


def test_every_acknowledged_sale_is_stored_exactly_once_across_sigkills(tmp_path: Path) -> None:
    warehouse, key = _ready_warehouse(tmp_path)
    api = ApiServer(warehouse, free_port(), tmp_path / "api.log").start()
    headers = {"X-API-Key": key}
    venue = f.venue()
    event = f.event(venue["venue_id"])
    with httpx.Client(base_url=api.url, headers=headers, timeout=30) as http:
        assert http.post("/api/ingest/venue", json=venue).status_code == 200
        assert http.post("/api/ingest/event", json=event).status_code == 200

    acknowledged: list[str] = []
    stop = threading.Event()

    def client(worker: int) -> None:
        number = 0
        with httpx.Client(base_url=api.url, headers=headers, timeout=10) as http:
            while not stop.is_set():
                sale = f.sale(event["event_id"], sale_id=f"crash-{worker}-{number}")
                while not stop.is_set():  # retry the same sale until it is acknowledged
                    try:
                        response = http.post("/api/ingest/sale", json=sale)
                    except httpx.TransportError:
                        time.sleep(0.05)
                        continue
                    if response.status_code == 200:
                        acknowledged.append(sale["sale_id"])
                        break
                    time.sleep(0.05)
                number += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(3):
            time.sleep(1.5)
            assert api.process is not None
            api.process.send_signal(signal.SIGKILL)
            api.process.wait()
            api.start()
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        api.stop()
    try:
        assert len(acknowledged) > 50, "too few sales went through to tell anything"
        tt = warehouse.client(database="tickettoken")
        rows = tt.query(
            "SELECT sale_id, count() FROM sales WHERE sale_id IN {ids:Array(String)} GROUP BY sale_id",
            parameters={"ids": acknowledged},
        ).result_rows
        counts = {str(sale_id): int(n) for sale_id, n in rows}
        missing = [sale_id for sale_id in acknowledged if sale_id not in counts]
        doubled = {sale_id: n for sale_id, n in counts.items() if n != 1}
        assert not missing, f"acknowledged but not stored: {missing[:5]}"
        assert not doubled, f"stored more than once: {list(doubled.items())[:5]}"
    finally:
        warehouse.stop()


def test_a_full_queue_answers_429_and_a_request_too_large_for_it_413(tmp_path: Path) -> None:
    warehouse, key = _ready_warehouse(tmp_path)
    api = ApiServer(warehouse, free_port(), tmp_path / "api.log", {"TICKETTOKEN_INGEST_MAX_PENDING_RECORDS": "10"})
    api.start()
    try:
        with httpx.Client(base_url=api.url, headers={"X-API-Key": key}, timeout=30) as http:
            venue = f.venue()
            event = f.event(venue["venue_id"])
            assert http.post("/api/ingest/venue", json=venue).status_code == 200
            assert http.post("/api/ingest/event", json=event).status_code == 200
            # More than the queue ever holds: no retry could succeed (it was a 429 with Retry-After).
            too_many = [f.sale(event["event_id"]) for _ in range(11)]
            for body, params in ((too_many, {}), ([*too_many, f.sale("no-such-event")], {"partial": "true"})):
                refused = http.post("/api/ingest/sale", json=body, params=params)
                assert refused.status_code == 413, refused.text
                assert "at most 10" in refused.json()["detail"]
            assert http.post("/api/ingest/sale", json=too_many[:10]).json()["accepted"] == 10
            # Requests that fit, sent together faster than they are written: some wait their turn, with Retry-After.
            batches = [[f.sale(event["event_id"]) for _ in range(6)] for _ in range(64)]
            with ThreadPoolExecutor(32) as pool:
                answers = list(pool.map(lambda batch: http.post("/api/ingest/sale", json=batch), batches))
            assert {answer.status_code for answer in answers} == {200, 429}
            assert all(answer.headers["Retry-After"] == "1" for answer in answers if answer.status_code == 429)
        tt = warehouse.client(database="tickettoken")
        ids = [sale["sale_id"] for sale in too_many[10:]]
        stored = tt.command("SELECT count() FROM sales WHERE sale_id IN {ids:Array(String)}", parameters={"ids": ids})
        assert stored == 0
        assert tt.command("SELECT count() FROM ingest_quarantine") == 0, "a refused request quarantined its bad record"
    finally:
        api.stop()
        warehouse.stop()

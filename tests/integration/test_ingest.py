"""Ingest through the real API process and the real warehouse: validation, idempotency, partial, auth."""

from __future__ import annotations

import gzip
import io
import json
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from clickhouse_connect.driver.client import Client

from api.ingest.services import TABLE_CHECK_ROWS, release_quarantined
from tests import factories as f
from tests.support import WarehouseServer


def _post(http: httpx.Client, key: str, stream: str, body: Any, **params: str) -> httpx.Response:
    return http.post(f"/api/ingest/{stream}", json=body, headers={"X-API-Key": key}, params=params)


@pytest.fixture(scope="module")
def catalog(http: httpx.Client, keys: dict[str, str]) -> dict[str, str]:
    """One venue and one event of org-1, and one event of org-2."""
    venue = f.venue()
    assert _post(http, keys["ingest"], "venue", venue).status_code == 200
    mine = f.event(venue["venue_id"], organizer_id="org-1")
    theirs = f.event(venue["venue_id"], organizer_id="org-2")
    response = _post(http, keys["ingest"], "event", [mine, theirs])
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": 0,
        "errors": [],
        "quarantined": 0,
        "quarantine_id": None,
    }
    return {"venue": venue["venue_id"], "event": mine["event_id"], "other_event": theirs["event_id"]}


@pytest.fixture
def tt(warehouse: WarehouseServer) -> Client:
    return warehouse.client(database="tickettoken")


def _count(tt: Client, table: str, id_field: str, ids: list[str]) -> int:
    sql = f"SELECT count() FROM {table} FINAL WHERE {id_field} IN {{ids:Array(String)}}"
    return int(tt.query(sql, parameters={"ids": ids}).result_rows[0][0])


def _without(record: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != name}


def _days_ahead(days: int) -> str:
    return (f.now() + timedelta(days=days)).isoformat()


# (stream, case, record maker, the field the error must name)
BAD_VALUES: list[tuple[str, str, Callable[[dict[str, str]], dict[str, Any]], str]] = [
    ("sale", "quantity", lambda c: f.sale(c["event"], quantity=0), "quantity"),
    ("sale", "quantity as text", lambda c: f.sale(c["event"], quantity="2"), "quantity"),
    ("sale", "price with 3 places", lambda c: f.sale(c["event"], unit_price="1.234"), "unit_price"),
    ("sale", "negative price", lambda c: f.sale(c["event"], unit_price=-5), "unit_price"),
    ("sale", "currency not ISO", lambda c: f.sale(c["event"], currency="XYZ"), "currency"),
    ("sale", "currency too long", lambda c: f.sale(c["event"], currency="EURO"), "currency"),
    ("sale", "channel", lambda c: f.sale(c["event"], channel="fax"), "channel"),
    ("sale", "time without zone", lambda c: f.sale(c["event"], purchased_at="2026-01-01T10:00:00"), "purchased_at"),
    ("sale", "time years ahead", lambda c: f.sale(c["event"], purchased_at="2031-01-01T10:00:00Z"), "purchased_at"),
    ("sale", "tier of no event", lambda c: f.sale(c["event"], tier="Balcony"), "tier"),
    ("sale", "not the event's currency", lambda c: f.sale(c["event"], currency="USD"), "currency"),
    ("sale", "unknown event", lambda c: f.sale("event-that-never-was"), "event_id"),
    ("sale", "empty id", lambda c: f.sale(c["event"], sale_id=""), "sale_id"),
    ("sale", "missing field", lambda c: _without(f.sale(c["event"]), "customer_id"), "customer_id"),
    ("sale", "buyer country", lambda c: f.sale(c["event"], buyer={"country": "Germany"}), "buyer.country"),
    ("sale", "buyer birth year", lambda c: f.sale(c["event"], buyer={"birth_year": 1800}), "buyer.birth_year"),
    ("attendance", "direction", lambda c: f.scan(c["event"], direction="sideways"), "direction"),
    ("attendance", "time without zone", lambda c: f.scan(c["event"], scanned_at="2026-05-01 20:00:00"), "scanned_at"),
    ("revenue", "category", lambda c: f.revenue(c["event"], category="tips"), "category"),
    ("revenue", "positive refund", lambda c: f.revenue(c["event"], category="refund", amount="10.00"), "amount"),
    ("revenue", "negative sale", lambda c: f.revenue(c["event"], amount="-10.00"), "amount"),
    ("revenue", "refund not a number", lambda c: f.revenue(c["event"], category="refund", amount="NaN"), "amount"),
    ("revenue", "not the event's currency", lambda c: f.revenue(c["event"], currency="GBP"), "currency"),
    ("social", "platform", lambda c: f.social(c["event"], platform="myspace"), "platform"),
    ("social", "sentiment", lambda c: f.social(c["event"], sentiment=2), "sentiment"),
    ("social", "reach", lambda c: f.social(c["event"], reach=-1), "reach"),
    ("social", "reach too large", lambda c: f.social(c["event"], reach=2**64), "reach"),
    ("event", "no tiers", lambda c: f.event(c["venue"], tiers=[]), "tiers"),
    # The id names the event in the live endpoints' paths: these could be stored but never asked for.
    ("event", "id with a slash", lambda c: f.event(c["venue"], event_id=f"tour/{uuid.uuid4()}"), "event_id"),
    ("event", "id '..'", lambda c: f.event(c["venue"], event_id=".."), "event_id"),
    ("event", "id with a line feed", lambda c: f.event(c["venue"], event_id=f"{uuid.uuid4()}\n"), "event_id"),
    ("event", "on sale after start", lambda c: f.event(c["venue"], on_sale_at=_days_ahead(31)), "on_sale_at"),
    ("event", "status", lambda c: f.event(c["venue"], status="done"), "status"),
    ("event", "unknown venue", lambda c: f.event("venue-that-never-was"), "venue_id"),
    ("event", "tier price", lambda c: f.event(c["venue"], tiers=[{"name": "A", "price": "1.001", "capacity": 5}]),
     "tiers[0].price"),
    ("venue", "country", lambda c: f.venue(country="XX"), "country"),
    ("venue", "time zone", lambda c: f.venue(timezone="Mars/Olympus_Mons"), "timezone"),
    ("venue", "latitude", lambda c: f.venue(lat=100), "lat"),
]  # fmt: skip
ID_FIELDS = {
    "sale": ("sales", "sale_id"), "attendance": ("scans", "scan_id"), "revenue": ("revenue", "revenue_id"),
    "social": ("social", "post_id"), "event": ("events", "event_id"), "venue": ("venues", "venue_id"),
}  # fmt: skip


GOOD: dict[str, Callable[[str], dict[str, Any]]] = {
    "sale": f.sale, "attendance": f.scan, "revenue": f.revenue, "social": f.social,
}  # fmt: skip


def _refused_naming(
    http: httpx.Client, keys: dict[str, str], tt: Client, stream: str, batch: list[dict[str, Any]], *, field: str
) -> None:
    """The batch, whose last record is bad, is refused whole: 422 naming that record and field, nothing written."""
    table, id_field = ID_FIELDS[stream]
    response = _post(http, keys["ingest"], stream, batch)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["rejected"] == 1
    assert body["accepted"] == 0
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(len(batch) - 1, field)]
    ids = [record[id_field] for record in batch if record.get(id_field)]
    assert _count(tt, table, id_field, ids) == 0, "a refused request wrote something"


@pytest.mark.parametrize(("bad_value"), BAD_VALUES, ids=[f"{s}-{c}" for s, c, _, _ in BAD_VALUES])
def test_each_bad_value_is_refused_naming_its_field_and_nothing_is_written(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client,
    bad_value: tuple[str, str, Callable[[dict[str, str]], dict[str, Any]], str],
) -> None:  # fmt: skip
    stream, _, make, field = bad_value
    good = [GOOD[stream](catalog["event"])] if stream in GOOD else []
    _refused_naming(http, keys, tt, stream, [*good, make(catalog)], field=field)


FACT_BAD_VALUES = [case for case in BAD_VALUES if case[0] in GOOD]


@pytest.mark.parametrize(("bad_value"), FACT_BAD_VALUES, ids=[f"{s}-{c}" for s, c, _, _ in FACT_BAD_VALUES])
def test_a_large_batch_with_one_bad_value_is_refused_naming_it(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client,
    bad_value: tuple[str, str, Callable[[dict[str, str]], dict[str, Any]], str],
) -> None:  # fmt: skip
    """Batches this large are first checked as a whole, on their table (table_rules.py); one bad record
    among them still gets each record checked and named."""
    stream, _, make, field = bad_value
    good = [GOOD[stream](catalog["event"]) for _ in range(TABLE_CHECK_ROWS)]
    _refused_naming(http, keys, tt, stream, [*good, make(catalog)], field=field)


def test_a_batch_sent_twice_counts_once(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    sales = [f.sale(catalog["event"]) for _ in range(50)]
    first = _post(http, keys["ingest"], "sale", sales).json()
    second = _post(http, keys["ingest"], "sale", sales).json()
    assert (first["accepted"], first["duplicates"]) == (50, 0)
    assert (second["accepted"], second["duplicates"]) == (0, 50)
    assert _count(tt, "sales", "sale_id", [s["sale_id"] for s in sales]) == 50
    physical = tt.command("SELECT count() FROM sales WHERE sale_id IN {ids:Array(String)}",
                          parameters={"ids": [s["sale_id"] for s in sales]})  # fmt: skip
    assert physical == 50, "the retry wrote rows again"


def test_duplicates_within_one_request(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    sale = f.sale(catalog["event"])
    result = _post(http, keys["ingest"], "sale", [sale, sale, sale]).json()
    assert (result["accepted"], result["duplicates"]) == (1, 2)
    assert _count(tt, "sales", "sale_id", [sale["sale_id"]]) == 1


def test_a_batch_retried_from_several_threads_at_once(
    api_server: Any, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    sales = [f.sale(catalog["event"]) for _ in range(200)]
    results: list[dict[str, int]] = []

    def send() -> None:
        with httpx.Client(base_url=api_server.url, timeout=60) as client:
            results.append(_post(client, keys["ingest"], "sale", sales).json())

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert sum(r["accepted"] for r in results) == 200
    assert sum(r["duplicates"] for r in results) == 200 * 7
    assert _count(tt, "sales", "sale_id", [s["sale_id"] for s in sales]) == 200


def test_partial_quarantines_exactly_the_bad_records(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    good = [f.sale(catalog["event"]) for _ in range(3)]
    bad = [f.sale(catalog["event"], quantity=0), f.sale(catalog["event"], tier="Balcony")]
    response = _post(http, keys["ingest"], "sale", [good[0], bad[0], good[1], bad[1], good[2]], partial="true")
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected"], body["quarantined"]) == (3, 2, 2)
    assert [e["index"] for e in body["errors"]] == [1, 3]
    assert _count(tt, "sales", "sale_id", [s["sale_id"] for s in good + bad]) == 3
    # Found by the id the answer gives (it gave none: only the time or the records' contents could find them).
    rows = tt.query(
        "SELECT record_index, JSONExtractString(record, 'sale_id'), reason FROM ingest_quarantine "
        "WHERE request_id = {id:String} ORDER BY record_index",
        parameters={"id": body["quarantine_id"]},
    ).result_rows
    assert [(r[0], r[1]) for r in rows] == [(1, bad[0]["sale_id"]), (3, bad[1]["sale_id"])]
    assert rows[0][2].startswith("quantity:")
    assert rows[1][2].startswith("tier:")


def test_quarantined_records_are_sent_again_once_they_can_be_taken(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    """A quarantine had no way out: a sale quarantined for an event not yet sent stayed there once it came."""
    late = f.event(catalog["venue"], organizer_id="org-1")
    early = f.sale(late["event_id"])  # its event comes later
    bad = f.sale(catalog["event"], tier="Balcony")  # never a tier of its event
    sent = _post(http, keys["org1"], "sale", [f.sale(catalog["event"]), early, bad], partial="true").json()
    assert (sent["accepted"], sent["quarantined"]) == (1, 2)
    replay = f"/api/ingest/quarantine/{sent['quarantine_id']}/replay"

    def quarantined() -> list[int]:
        sql = "SELECT record_index FROM ingest_quarantine WHERE request_id = {id:String} ORDER BY record_index"
        return [row[0] for row in tt.query(sql, parameters={"id": sent["quarantine_id"]}).result_rows]

    def again(key: str) -> httpx.Response:
        return http.post(replay, headers={"X-API-Key": keys[key]})

    first = again("org1").json()  # too early: nothing changes
    assert (first["accepted"], first["rejected"], first["quarantine_id"]) == (0, 2, sent["quarantine_id"])
    assert [(e["index"], e["field"]) for e in first["errors"]] == [(1, "event_id"), (2, "tier")]
    assert quarantined() == [1, 2] and _count(tt, "sales", "sale_id", [early["sale_id"]]) == 0

    assert _post(http, keys["ingest"], "event", late).status_code == 200
    assert again("org2").status_code == 403, "another organizer's key may not send org-1's sales"
    assert quarantined() == [1, 2]
    second = again("org1").json()
    assert (second["accepted"], second["duplicates"], second["rejected"]) == (1, 0, 1)
    assert [(e["index"], e["field"]) for e in second["errors"]] == [(2, "tier")]
    assert quarantined() == [2] and _count(tt, "sales", "sale_id", [early["sale_id"]]) == 1
    third = again("org1").json()
    assert (third["accepted"], third["rejected"]) == (0, 1), "the taken sale left the quarantine"

    unknown = http.post("/api/ingest/quarantine/no-such-id/replay", headers={"X-API-Key": keys["ingest"]})
    assert unknown.status_code == 404 and "no-such-id" in unknown.json()["detail"]
    assert http.post(replay, headers={"X-API-Key": keys["read"]}).status_code == 403


def test_a_large_quarantine_is_replayed_and_released_whole(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    """Releasing 15,000 replayed records put ~130 KB of indexes in a DELETE's URL, which the warehouse refused past
    64 KiB: the replay was answered 503 every time, with its records written and still quarantined."""
    late = f.event(catalog["venue"], organizer_id="org-1")
    sales = [f.sale(late["event_id"]) for _ in range(15_000)]
    sent = _post(http, keys["ingest"], "sale", sales, partial="true").json()
    assert (sent["accepted"], sent["quarantined"]) == (0, 15_000)
    assert _post(http, keys["ingest"], "event", late).status_code == 200
    replay = f"/api/ingest/quarantine/{sent['quarantine_id']}/replay"
    replayed = http.post(replay, headers={"X-API-Key": keys["ingest"]}, timeout=120)
    assert replayed.status_code == 200, replayed.text
    assert (replayed.json()["accepted"], replayed.json()["quarantined"]) == (15_000, 0)
    assert _quarantined_under(tt, sent["quarantine_id"]) == 0
    assert http.post(replay, headers={"X-API-Key": keys["ingest"]}).status_code == 404


def test_a_release_of_more_indexes_than_a_url_takes_goes_in_pieces(tt: Client) -> None:
    """130,000 indexes are ~1.2 MB of a DELETE's URL, past the 1 MiB ClickHouse takes (the queue holds 200,000)."""
    request_id = str(uuid.uuid4())
    rows = [["sale", request_id, index, "{}", "test"] for index in range(130_001)]
    tt.insert("ingest_quarantine", rows, column_names=["stream", "request_id", "record_index", "record", "reason"])
    release_quarantined(tt, request_id, list(range(130_000)))
    assert _quarantined_under(tt, request_id) == 1


def _quarantined_under(tt: Client, quarantine_id: str) -> int:
    sql = "SELECT count() FROM ingest_quarantine WHERE request_id = {id:String}"
    return int(tt.query(sql, parameters={"id": quarantine_id}).result_rows[0][0])


def test_ndjson_and_money_as_number_or_text(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    sales = [f.sale(catalog["event"], unit_price=price) for price in (49.9, "49.90", 12, "0.05")]
    body = "\n".join(json.dumps(s) for s in sales) + "\n"
    response = http.post(
        "/api/ingest/sale", content=body, headers={"X-API-Key": keys["ingest"], "Content-Type": "application/x-ndjson"}
    )
    assert response.json()["accepted"] == 4
    total = tt.command("SELECT sum(unit_price) FROM sales WHERE sale_id IN {ids:Array(String)}",
                       parameters={"ids": [s["sale_id"] for s in sales]})  # fmt: skip
    assert Decimal(str(total)) == Decimal("111.85")


def test_times_are_stored_as_utc(http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client) -> None:
    moment = f.now() - timedelta(hours=2)
    local = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    sale = f.sale(catalog["event"], purchased_at=local.isoformat())
    assert _post(http, keys["ingest"], "sale", sale).json()["accepted"] == 1
    stored = tt.command("SELECT toString(purchased_at) FROM sales WHERE sale_id = {id:String}",
                        parameters={"id": sale["sale_id"]})  # fmt: skip
    assert stored == moment.strftime("%Y-%m-%d %H:%M:%S.000")


def test_malformed_json_names_the_byte(http: httpx.Client, keys: dict[str, str]) -> None:
    response = http.post("/api/ingest/sale", content=b'[{"sale_id": "a",, }]', headers={"X-API-Key": keys["ingest"]})
    assert response.status_code == 400
    assert "byte 17" in response.json()["detail"]
    response = http.post(
        "/api/ingest/sale",
        content=b'{"a": 1}\n{"b": \n',
        headers={"X-API-Key": keys["ingest"], "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 400
    assert "byte" in response.json()["detail"]


def test_a_byte_order_mark_is_skipped_and_ndjson_sent_as_json_is_named(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    """Windows tools write a BOM before JSON (refused as "expected a JSON object or array (byte 0)"); curl's -d
    sends NDJSON without its type (refused at the second line with no word of why)."""
    bom = b"\xef\xbb\xbf"
    one, many, lines = f.sale(catalog["event"]), [f.sale(catalog["event"]) for _ in range(2)], f.sale(catalog["event"])
    for media_type, body in (
        ("application/json", bom + json.dumps(one).encode()),  # small: the fast path's size
        ("application/json", bom + json.dumps(many).encode()),
        ("application/x-ndjson", bom + json.dumps(lines).encode() + b"\n"),
    ):
        response = http.post("/api/ingest/sale", content=body, headers={"X-API-Key": keys["ingest"],
                                                                         "Content-Type": media_type})  # fmt: skip
        assert response.status_code == 200, (media_type, response.text)
    assert _count(tt, "sales", "sale_id", [s["sale_id"] for s in (one, *many, lines)]) == 4
    broken = http.post("/api/ingest/sale", content=bom + b'{"sale_id": ,}', headers={"X-API-Key": keys["ingest"]})
    assert "(byte 15)" in broken.json()["detail"], "positions count the mark"
    ndjson = json.dumps(f.sale(catalog["event"])).encode() + b"\n" + json.dumps(f.sale(catalog["event"])).encode()
    form = {"X-API-Key": keys["ingest"], "Content-Type": "application/x-www-form-urlencoded"}  # as curl -d sends
    response = http.post("/api/ingest/sale", content=ndjson, headers=form)
    assert response.status_code == 400
    assert response.json()["detail"].endswith("send Content-Type: application/x-ndjson")
    # Its first record invalid: that one was quarantined, the rest dropped unseen, and the answer counted one record.
    second = f.sale(catalog["event"])
    first_bad = json.dumps({**f.sale(catalog["event"]), "quantity": 0}).encode() + b"\n" + json.dumps(second).encode()
    response = http.post("/api/ingest/sale", params={"partial": "true"}, content=first_bad, headers=form)
    assert response.status_code == 400 and response.json()["detail"].endswith("application/x-ndjson"), response.text
    # Media types are case-insensitive: `Application/X-NDJSON` was read as JSON.
    upper = {"X-API-Key": keys["ingest"], "Content-Type": "Application/X-NDJSON"}
    assert http.post("/api/ingest/sale", content=first_bad, headers=upper, params={"partial": "true"}).json()[
        "accepted"] == 1  # fmt: skip
    assert _count(tt, "sales", "sale_id", [second["sale_id"]]) == 1
    empty = http.post("/api/ingest/sale", content=b"", headers={"X-API-Key": keys["ingest"]})
    assert (empty.status_code, empty.json()["detail"]) == (400, "the body is not valid JSON: the body is empty: send"
                                                                 " a JSON object or array (byte 0)")  # fmt: skip


DEEP_ARRAYS = b"[" * 100_000
DEEP_OBJECTS = b'{"buyer": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_001


@pytest.mark.parametrize(
    ("media_type", "body", "byte"),
    [
        ("application/json", DEEP_ARRAYS, 0),
        ("application/json", DEEP_OBJECTS, 0),
        ("application/x-ndjson", b'{"a": 1}\n' + DEEP_OBJECTS, 9),  # the line's first byte
    ],
    ids=["arrays", "objects", "ndjson"],
)
def test_json_nested_too_deeply_is_refused(
    http: httpx.Client, keys: dict[str, str], media_type: str, body: bytes, byte: int
) -> None:
    """msgspec gives up on nesting past the recursion limit: a 400, not the 500 it was."""
    response = http.post(
        "/api/ingest/sale", content=body, headers={"X-API-Key": keys["ingest"], "Content-Type": media_type}
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"].endswith(f"nested too deeply for a record (byte {byte})")


def test_auth_matrix(http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client) -> None:
    sale = f.sale(catalog["event"])
    assert http.post("/api/ingest/sale", json=sale).status_code == 401
    assert _post(http, "tt_bogus_key", "sale", sale).status_code == 401
    assert _post(http, keys["read"], "sale", sale).status_code == 403
    # An organizer-bound key writes its own events, and nothing of another organizer's.
    assert _post(http, keys["org2"], "sale", sale).status_code == 403
    mixed = [f.sale(catalog["event"]), f.sale(catalog["other_event"])]
    assert _post(http, keys["org1"], "sale", mixed).status_code == 403
    large = [f.sale(catalog["event"]) for _ in range(TABLE_CHECK_ROWS)]  # checked on its table first
    assert _post(http, keys["org2"], "sale", large).status_code == 403
    written = [sale["sale_id"]] + [s["sale_id"] for s in mixed + large]
    assert _count(tt, "sales", "sale_id", written) == 0
    assert _post(http, keys["org1"], "sale", sale).json()["accepted"] == 1
    takeover = f.event(catalog["venue"], organizer_id="org-1", event_id=catalog["other_event"])
    assert _post(http, keys["org1"], "event", takeover).status_code == 403
    assert _post(http, keys["org1"], "event", f.event(catalog["venue"], organizer_id="org-2")).status_code == 403
    assert _post(http, keys["org1"], "venue", f.venue()).status_code == 403


def test_a_later_event_version_replaces_the_earlier(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    now = f.now()
    first = f.event(catalog["venue"], updated_at=(now - timedelta(hours=1)).isoformat())
    newer = {**first, "name": "moved", "status": "postponed", "updated_at": now.isoformat()}
    older = {**first, "name": "stale", "updated_at": (now - timedelta(days=400)).isoformat()}
    results = [_post(http, keys["ingest"], "event", e).json() for e in (first, newer, older, newer, first)]
    # An older version than the stored one changes nothing: answered as a duplicate (it was "accepted"), unwritten.
    assert [(r["accepted"], r["duplicates"]) for r in results] == [(1, 0), (1, 0), (0, 1), (0, 1), (0, 1)]
    rows = tt.query("SELECT name, status FROM events FINAL WHERE event_id = {id:String}",
                    parameters={"id": first["event_id"]}).result_rows  # fmt: skip
    assert rows == [("moved", "postponed")]
    stale = "SELECT count() FROM events WHERE event_id = {id:String} AND name = 'stale'"
    assert tt.query(stale, parameters={"id": first["event_id"]}).result_rows == [(0,)]


def _errors(response: httpx.Response) -> list[tuple[int, str, str]]:
    return [(e["index"], e["field"], e["message"]) for e in response.json()["errors"]]


def test_an_events_money_stays_in_one_currency(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    """The views and marts sum an event's money: an event that names no currency takes its first facts' (the
    first of a request, or those stored), and its currency cannot change once money is stored in another."""
    event = f.event(catalog["venue"], currency=None)
    assert _post(http, keys["ingest"], "event", event).status_code == 200
    eid = event["event_id"]
    mixed = [f.sale(eid, currency="USD"), f.sale(eid, currency="EUR"), f.sale(eid, currency="USD")]
    response = _post(http, keys["ingest"], "sale", mixed)
    assert response.status_code == 422
    assert _errors(response) == [(1, "currency", f"event {eid!r} is sold in USD, not EUR")]
    assert _post(http, keys["ingest"], "sale", [mixed[0], mixed[2]]).json()["accepted"] == 2
    others = [("sale", f.sale(eid)), ("revenue", f.revenue(eid)), ("revenue", f.revenue(eid, currency="JPY"))]
    for stream, record in others:
        response = _post(http, keys["ingest"], stream, record)
        assert response.status_code == 422, response.text
        assert _errors(response) == [(0, "currency", f"event {eid!r} is sold in USD, not {record['currency']}")]
    assert _post(http, keys["ingest"], "revenue", f.revenue(eid, currency="USD")).status_code == 200

    renamed = {**event, "currency": "EUR", "updated_at": f._iso(f.now() + timedelta(seconds=1))}
    response = _post(http, keys["ingest"], "event", renamed)
    assert response.status_code == 422
    assert _errors(response) == [(0, "currency", f"event {eid!r} already has sales or revenue in USD")]
    assert _post(http, keys["ingest"], "event", {**renamed, "currency": "USD"}).status_code == 200
    rows = tt.query("SELECT currency, count() FROM sales FINAL WHERE event_id = {id:String} GROUP BY currency",
                    parameters={"id": eid}).result_rows  # fmt: skip
    assert rows == [("USD", 2)]

    unsold = f.event(catalog["venue"])  # in EUR, nothing stored yet: its currency may still change
    assert _post(http, keys["ingest"], "event", unsold).status_code == 200
    assert _post(http, keys["ingest"], "sale", f.sale(unsold["event_id"], currency="USD")).status_code == 422
    moved = {**unsold, "currency": "USD", "updated_at": f._iso(f.now() + timedelta(seconds=1))}
    assert _post(http, keys["ingest"], "event", moved).status_code == 200
    assert _post(http, keys["ingest"], "sale", f.sale(unsold["event_id"], currency="USD")).status_code == 200


def test_an_event_whose_money_was_stored_in_several_currencies_can_still_be_updated(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    """Stored before currencies were checked: updates that leave its currency alone are taken, a new one is not."""
    event = f.event(catalog["venue"])  # EUR
    sale = f.sale(event["event_id"])
    for stream, record in (("event", event), ("sale", sale)):
        assert _post(http, keys["ingest"], stream, record).status_code == 200
    tt.command("INSERT INTO sales SELECT * REPLACE ('USD' AS currency, concat(sale_id, '-usd') AS sale_id) "
               "FROM (SELECT * FROM sales WHERE sale_id = {s:String})", parameters={"s": sale["sale_id"]})  # fmt: skip
    currencies = "SELECT groupUniqArray(currency) FROM sales WHERE event_id = {e:String}"
    assert sorted(tt.query(currencies, parameters={"e": event["event_id"]}).result_rows[0][0]) == ["EUR", "USD"]
    postponed = {**event, "status": "postponed", "updated_at": f._iso(f.now() + timedelta(seconds=1))}
    assert _post(http, keys["ingest"], "event", postponed).status_code == 200
    in_usd = {**postponed, "currency": "USD", "updated_at": f._iso(f.now() + timedelta(seconds=2))}
    response = _post(http, keys["ingest"], "event", in_usd)
    assert _errors(response) == [(0, "currency", f"event {event['event_id']!r} already has sales or revenue in EUR")]


def test_body_over_the_limit_is_413_naming_the_limit(api_server: Any, keys: dict[str, str]) -> None:
    """With its length declared or sent in chunks (no length): the answer was a bare "Request Entity Too Large"."""
    body = b"[" + b" " * (33 * 1024 * 1024) + b"]"

    def chunks() -> Iterator[bytes]:
        yield from (body[i : i + 1024 * 1024] for i in range(0, len(body), 1024 * 1024))

    with httpx.Client(base_url=api_server.url, timeout=60, headers={"X-API-Key": keys["ingest"]}) as client:
        for sent in (body, chunks()):
            response = client.post("/api/ingest/sale", content=sent)
            assert (response.status_code, response.json()["detail"]) == (
                413, "the body is over the limit of 33554432 bytes (TICKETTOKEN_MAX_BODY_BYTES): split the request;"
                " nothing was written")  # fmt: skip


@pytest.mark.parametrize("size", [200, 300_000])
def test_a_client_gone_before_its_whole_body_is_no_fault_and_nothing_is_written(
    api_server: Any, keys: dict[str, str], catalog: dict[str, str], tt: Client, size: int
) -> None:
    """A feed that times out or drops its connection while sending: the API logged a traceback ("client
    disconnected prematurely") and counted a 500, its own fault, for what was the client's doing. Now /metrics counts
    it as 499 (the client closed the request). Small bodies are read before routing, large ones by the route."""
    sales = [f.sale(catalog["event"]) for _ in range(max(1, size // 350))]
    body = json.dumps(sales).encode()
    route = "/api/ingest/sale"
    before = {status: api_server.metric(keys["admin"], "tickettoken_requests_total", method="POST", path=route,
                                        status_code=status) for status in ("499", "500")}  # fmt: skip
    with socket.create_connection(("127.0.0.1", api_server.port)) as connection:
        head = (f"POST {route} HTTP/1.1\r\nHost: x\r\nX-API-Key: {keys['ingest']}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
        connection.sendall(head.encode() + body[: len(body) // 2])
        time.sleep(0.5)  # the API is reading it
    deadline = time.monotonic() + 10
    while (after := api_server.metric(keys["admin"], "tickettoken_requests_total", method="POST", path=route,
                                      status_code="499")) == before["499"] and time.monotonic() < deadline:  # fmt: skip
        time.sleep(0.1)
    assert after == before["499"] + 1
    assert api_server.metric(keys["admin"], "tickettoken_requests_total", method="POST", path=route,
                             status_code="500") == before["500"]  # fmt: skip
    assert "client disconnected" not in api_server.log_path.read_text()
    assert _count(tt, "sales", "sale_id", [sale["sale_id"] for sale in sales]) == 0


def test_a_body_of_a_type_not_taken_is_415_naming_what_is(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    """CSV, XML or a form's multipart body was read as JSON and refused as "not valid JSON (byte 0)"; now a 415
    naming the types taken, even when the body happens to be JSON. JSON named loosely (no type, `text/plain` from a
    browser's fetch, `curl -d`'s form type, a `+json` type, a charset) and NDJSON's other names still load."""
    sales = [f.sale(catalog["event"]) for _ in range(12)]
    refused = ["text/csv", "application/xml", "multipart/form-data; boundary=x", "application/octet-stream"]
    for media_type, sale in zip(refused, sales, strict=False):
        response = http.post("/api/ingest/sale", content=json.dumps(sale).encode(),
                             headers={"X-API-Key": keys["ingest"], "Content-Type": media_type})  # fmt: skip
        assert response.status_code == 415, response.text
        named = media_type.split(";")[0]
        assert response.json()["detail"].startswith(f"Content-Type {named!r} is not taken: send JSON (application/")
    taken = ["", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "application/vnd.api+json",
             "Application/JSON; charset=utf-8"]  # fmt: skip
    for media_type, sale in zip(taken, sales[len(refused) :], strict=False):
        response = http.post("/api/ingest/sale", content=json.dumps(sale).encode(),
                             headers={"X-API-Key": keys["ingest"], "Content-Type": media_type})  # fmt: skip
        assert (response.status_code, response.json()["accepted"]) == (200, 1), (media_type, response.text)
    lines = "\n".join(json.dumps(sale) for sale in sales[-3:]).encode()
    response = http.post("/api/ingest/sale", content=lines,
                         headers={"X-API-Key": keys["ingest"], "Content-Type": "application/jsonl"})  # fmt: skip
    assert (response.status_code, response.json()["accepted"]) == (200, 3), response.text
    stored = _count(tt, "sales", "sale_id", [sale["sale_id"] for sale in sales])
    assert stored == len(sales) - len(refused)


def test_compressed_bodies(http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client) -> None:
    """Large batches come gzipped: they were refused as not JSON at byte 0. What a body unpacks to is held to
    the body limit (a gzip of 33 MiB of spaces is 33 KiB)."""
    sales = [f.sale(catalog["event"]) for _ in range(6)]

    def send(body: bytes, encoding: str, content_type: str = "application/json") -> httpx.Response:
        headers = {"X-API-Key": keys["ingest"], "Content-Type": content_type, "Content-Encoding": encoding}
        return http.post("/api/ingest/sale", content=body, headers=headers)

    ndjson = "\n".join(json.dumps(sale) for sale in sales[2:4]).encode()
    text = json.dumps(sales[4:]).encode()
    two_members = gzip.compress(text[:100]) + gzip.compress(text[100:])  # as `cat a.gz b.gz` makes
    sent = [
        send(gzip.compress(json.dumps(sales[:2]).encode()), "gzip"),
        send(zlib.compress(ndjson), "deflate", "application/x-ndjson"),
        send(two_members, "x-gzip"),
    ]
    assert [(r.status_code, r.json()["accepted"]) for r in sent] == [(200, 2), (200, 2), (200, 2)]
    assert _count(tt, "sales", "sale_id", [sale["sale_id"] for sale in sales]) == 6
    assert send(gzip.compress(json.dumps(sales[:2]).encode()), "gzip").json()["duplicates"] == 2

    body = gzip.compress(json.dumps([f.sale(catalog["event"])]).encode())
    refused = {
        "not gzip": send(b"[" + body, "gzip"),
        "cut short": send(body[:-9], "gzip"),
        "brotli": send(body, "br"),
        "a bomb": send(gzip.compress(b"[" + b" " * (33 * 1024 * 1024) + b"]"), "gzip"),
    }
    answers = {case: (r.status_code, r.json()["detail"]) for case, r in refused.items()}
    assert answers["not gzip"][0] == 400 and answers["not gzip"][1].startswith("the body is not valid gzip")
    assert answers["cut short"] == (400, "the body is not valid gzip: it ends early")
    assert answers["brotli"] == (415, "Content-Encoding 'br' is not supported: send gzip, deflate or none")
    assert answers["a bomb"][0] == 413 and "unpacks to more than 33554432 bytes" in answers["a bomb"][1]


def _arrow_stream(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _arrow_file(table: pa.Table) -> bytes:
    """An Arrow IPC file as polars writes one (`write_ipc`, compressed): its batches where its footer says."""
    sink = io.BytesIO()
    pl.from_arrow(table).write_ipc(sink, compression="zstd")  # type: ignore[union-attr]
    return sink.getvalue()


COLUMNAR = [("application/vnd.apache.arrow.stream", _arrow_stream), ("application/vnd.apache.parquet", _parquet)]
ARROW_FILE = ("application/vnd.apache.arrow.file", _arrow_file)


@pytest.mark.parametrize("columnar", [*COLUMNAR, ARROW_FILE], ids=["arrow", "parquet", "arrow-file"])
def test_arrow_and_parquet_bodies_load(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client,
    columnar: tuple[str, Callable[[pa.Table], bytes]],
) -> None:  # fmt: skip
    media_type, encode = columnar
    count = 5000
    ids = [f.new_id("columnar") for _ in range(count)]
    moment = datetime.now(UTC) - timedelta(hours=1)
    table = pa.table({
        "sale_id": ids,
        "event_id": [catalog["event"]] * count,
        "customer_id": [f"c{n % 300}" for n in range(count)],
        "purchased_at": pa.array([moment] * count, pa.timestamp("ms", tz="UTC")),
        "tier": ["GA", "VIP"] * (count // 2),
        "quantity": pa.array([1 + n % 4 for n in range(count)], pa.int16()),
        "unit_price": pa.array([Decimal("49.90"), Decimal("129.00")] * (count // 2), pa.decimal128(12, 2)),
        "currency": ["EUR"] * count,
        "channel": ["app"] * count,
    })  # fmt: skip
    headers = {"X-API-Key": keys["ingest"], "Content-Type": media_type}
    response = http.post("/api/ingest/sale", content=encode(table), headers=headers)
    assert response.json() == {
        "accepted": count,
        "duplicates": 0,
        "rejected": 0,
        "errors": [],
        "quarantined": 0,
        "quarantine_id": None,
    }
    again = http.post("/api/ingest/sale", content=encode(table), headers=headers).json()
    assert (again["accepted"], again["duplicates"]) == (0, count)
    total = tt.query("SELECT sum(quantity * unit_price) FROM sales FINAL WHERE sale_id IN {ids:Array(String)}",
                     parameters={"ids": ids}).result_rows[0][0]  # fmt: skip
    expected = sum((1 + n % 4) * (Decimal("49.90") if n % 2 == 0 else Decimal("129.00")) for n in range(count))
    assert Decimal(str(total)) == expected
    buyers = tt.query("SELECT DISTINCT buyer_gender, buyer_country, buyer_birth_year, buyer_lon FROM sales"
                      " WHERE sale_id IN {ids:Array(String)}", parameters={"ids": ids}).result_rows  # fmt: skip
    assert buyers == [("", "", None, None)]  # no buyer column sent: the warehouse's defaults


def _not_utf8_text(values: list[bytes]) -> pa.Array:
    """A string column holding these bytes as they are: pyarrow's own constructors refuse text that is not UTF-8,
    writers in other languages may not."""
    offsets = pa.array(np.cumsum([0, *map(len, values)]), pa.int32())
    return pa.Array.from_buffers(pa.string(), len(values), [None, offsets.buffers()[1], pa.py_buffer(b"".join(values))])


@pytest.mark.parametrize("columnar", COLUMNAR, ids=["arrow", "parquet"])
def test_text_that_is_not_utf8_is_refused_naming_where(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client,
    columnar: tuple[str, Callable[[pa.Table], bytes]],
) -> None:  # fmt: skip
    """A Latin-1 string in a JSON body was a 500 (msgspec raises UnicodeDecodeError, not a DecodeError); in an Arrow
    or Parquet body it was stored as sent, and every live view of its event then answered 500."""
    sales = [f.sale(catalog["event"], tier="GA") for _ in range(3)]
    latin1 = json.dumps(sales).encode().replace(sales[1]["customer_id"].encode(), b"caf\xe9", 1)
    ndjson = latin1[1:-1].replace(b"}, {", b"}\n{")
    one = json.dumps(sales[0]).encode().replace(b'"web"', b'"w\xe9b"')
    headers = {"X-API-Key": keys["ingest"]}
    bodies = [(latin1, "application/json"), (ndjson, "application/x-ndjson"), (one, "application/json")]
    for body, media_type in bodies:
        for params in ({}, {"partial": "true"}):  # a small JSON body is taken before routing without `partial`
            response = http.post("/api/ingest/sale", params=params, content=body,
                                 headers={**headers, "Content-Type": media_type})  # fmt: skip
            assert response.status_code == 400, (media_type, response.text)
            assert "a string is not UTF-8 (JSON is UTF-8) (byte " in response.json()["detail"]
    detail = http.post("/api/ingest/sale", content=latin1, headers=headers).json()["detail"]
    assert detail.endswith(f"(byte {latin1.index(b'caf') + 3})"), detail

    media_type, encode = columnar
    ids = [f.new_id("utf8") for _ in range(3)]
    table = pa.table({
        "sale_id": ids, "event_id": [catalog["event"]] * 3, "customer_id": _not_utf8_text([b"ok", b"caf\xe9", b"ok"]),
        "purchased_at": pa.array([datetime.now(UTC) - timedelta(hours=1)] * 3, pa.timestamp("ms", tz="UTC")),
        "tier": ["GA"] * 3, "quantity": pa.array([1] * 3, pa.int16()),
        "unit_price": pa.array([Decimal("49.90")] * 3, pa.decimal128(12, 2)), "currency": ["EUR"] * 3,
        "channel": ["web"] * 3,
    })  # fmt: skip
    response = http.post("/api/ingest/sale", content=encode(table),
                         headers={"X-API-Key": keys["ingest"], "Content-Type": media_type})  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("column 'customer_id' is not valid:"), response.text
    assert _count(tt, "sales", "sale_id", ids + [sale["sale_id"] for sale in sales]) == 0


def test_a_name_given_to_two_columns_is_refused(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    """Two `tier` columns, or a `buyer` struct with two `country` fields: which was meant cannot be known, and
    each was a 500 (on the column checks, and on reading the rows for the record-by-record path)."""
    ids = [f.new_id("twice") for _ in range(2)]
    table = pa.table({
        "sale_id": ids, "event_id": [catalog["event"]] * 2, "customer_id": ["c"] * 2,
        "purchased_at": pa.array([datetime.now(UTC) - timedelta(hours=1)] * 2, pa.timestamp("ms", tz="UTC")),
        "tier": ["GA"] * 2, "quantity": pa.array([1] * 2, pa.int16()),
        "unit_price": pa.array([Decimal("49.90")] * 2, pa.decimal128(12, 2)), "currency": ["EUR"] * 2,
        "channel": ["web"] * 2,
    })  # fmt: skip
    buyer = pa.StructArray.from_arrays([pa.array(["DE"] * 2), pa.array(["FR"] * 2)], names=["country", "country"])
    cases = {
        "tier": table.append_column("tier", pa.array(["VIP"] * 2)),
        "buyer.country": table.append_column("buyer", buyer),
    }
    for name, body in cases.items():
        response = http.post("/api/ingest/sale", content=_arrow_stream(body), headers={
            "X-API-Key": keys["ingest"], "Content-Type": "application/vnd.apache.arrow.stream"})  # fmt: skip
        assert (response.status_code, response.json()["detail"]) == (400, f"column {name!r} appears twice")
    assert _count(tt, "sales", "sale_id", ids) == 0


def test_a_small_columnar_body_that_unpacks_to_too_much_is_refused_before_it_unpacks(
    http: httpx.Client, keys: dict[str, str]
) -> None:
    """A Parquet body of 228 KB holding 50 million rows had the API's worker killed for its memory (24 GB) after two
    minutes. Rows are now counted from Parquet's footer (and Arrow's batches, one at a time) and what a table takes
    with its dictionaries of text expanded is reckoned before anything expands them. (Here on a scale the code
    before could survive: it read these whole and answered 422 for their missing fields.)"""
    many = pa.table({"quantity": pa.nulls(1_000_000, pa.int16()).fill_null(1)})
    # 200,000 rows of one 3,000-byte string, as a dictionary: 600 MB expanded, in a body of about 800 KB.
    spelled = pa.DictionaryArray.from_arrays(pa.array([0] * 200_000, pa.int32()), pa.array(["a" * 3000]))
    cases = [
        (_parquet(many), "application/vnd.apache.parquet", "more than 200000 records in one request"),
        (_arrow_stream(pa.table({"customer_id": spelled})), "application/vnd.apache.arrow.stream",
         "the body's table unpacks to more than 536870912 bytes"),
        (_parquet(pa.table({"buyer": pa.StructArray.from_arrays([spelled], names=["city"])})),
         "application/vnd.apache.parquet", "the body's table unpacks to more than 536870912 bytes"),
    ]  # fmt: skip
    for body, media_type, refusal in cases:
        assert len(body) < 1_000_000
        response = http.post("/api/ingest/sale", content=body,
                             headers={"X-API-Key": keys["ingest"], "Content-Type": media_type})  # fmt: skip
        assert response.status_code == 413 and response.json()["detail"].startswith(refusal), response.text


@pytest.mark.parametrize("form", ["stream", "file"])
def test_a_compressed_arrow_body_is_refused_before_its_batches_unpack(
    api_server: Any, keys: dict[str, str], form: str
) -> None:
    """pyarrow unpacks a compressed (ZSTD, LZ4) batch whole as it reads it, so the table's size was checked only
    once every batch had unpacked: 32 MiB of such batches could ask for hundreds of GB. Here 32 batches of 64 MB
    of text in a body of about 100 KB, as a stream and as a file; the sizes are now read from the batches' metadata
    first. Told apart by the API's peak memory (the code before answered the stream the same 413, after taking
    2 GB)."""
    text = pa.table({"customer_id": pa.array(["a" * 1_000_000] * 64)})
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    one, none, whole = io.BytesIO(), io.BytesIO(), io.BytesIO()
    with pa.ipc.new_stream(one, text.schema, options=options) as writer:
        writer.write_table(text)
    pa.ipc.new_stream(none, text.schema, options=options).close()
    schema, end = none.getvalue()[:-8], none.getvalue()[-8:]  # the schema message, then the end of the stream
    body = schema + one.getvalue()[len(schema) : -8] * 32 + end
    if form == "file":  # written whole: a file's footer says where each batch is
        with pa.ipc.new_file(whole, text.schema, options=options) as file_writer:
            for batch in pa.ipc.open_stream(body):
                file_writer.write_batch(batch)
        body = whole.getvalue()
    assert len(body) < 200_000
    before = _memory_kb(api_server.process.pid)
    response = httpx.post(f"{api_server.url}/api/ingest/sale", content=body, timeout=120, headers={
        "X-API-Key": keys["ingest"], "Content-Type": "application/vnd.apache.arrow.stream"})  # fmt: skip
    assert response.status_code == 413, response.text
    assert response.json()["detail"].startswith("the body's table unpacks to more than 536870912 bytes")
    peak = _memory_kb(api_server.process.pid)["VmHWM"]
    assert peak < max(before["VmHWM"], before["VmRSS"] + 1_000_000), (before, peak)


def _memory_kb(pid: int) -> dict[str, int]:
    """A process's resident memory now and at its peak (kB), from /proc."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = (line.split(":", 1) for line in lines)
    return {name: int(rest.split()[0]) for name, rest in fields if name.startswith("Vm")}


def test_a_columnar_body_is_checked_row_by_row(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str]
) -> None:
    naive = pa.table({
        "sale_id": [f.new_id("naive")], "event_id": [catalog["event"]], "customer_id": ["c"],
        "purchased_at": pa.array([datetime(2026, 1, 1)], pa.timestamp("ms")), "tier": ["GA"],
        "quantity": pa.array([0], pa.int16()), "unit_price": ["1.00"], "currency": ["EUR"], "channel": ["web"],
    })  # fmt: skip
    response = http.post(
        "/api/ingest/sale",
        content=_arrow_stream(naive),
        headers={"X-API-Key": keys["ingest"], "Content-Type": "application/vnd.apache.arrow.stream"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["index"] == 0
    garbage = http.post(
        "/api/ingest/sale",
        content=b"not arrow at all",
        headers={"X-API-Key": keys["ingest"], "Content-Type": "application/vnd.apache.arrow.stream"},
    )
    assert garbage.status_code == 400
    assert "Arrow IPC stream" in garbage.json()["detail"]


def _columnar_sales(event: str, count: int, **columns: Any) -> pa.Table:
    base: dict[str, Any] = {
        "sale_id": [f.new_id("col") for _ in range(count)],
        "event_id": [event] * count,
        "customer_id": ["c1"] * count,
        "purchased_at": pa.array([datetime.now(UTC) - timedelta(hours=1)] * count, pa.timestamp("us", tz="UTC")),
        "tier": ["GA"] * count,
        "quantity": pa.array([2] * count, pa.int64()),
        "unit_price": pa.array([Decimal("49.90")] * count, pa.decimal128(12, 2)),
        "currency": ["EUR"] * count,
        "channel": ["web"] * count,
    }
    return pa.table({**base, **columns})


# (case, column overrides, the field the error must name); the last row of 3 is the bad one
COLUMNAR_BAD: list[tuple[str, Callable[[str], dict[str, Any]], str]] = [
    ("money with 3 places as text", lambda e: {"unit_price": ["1.00", "2.00", "1.234"]}, "unit_price"),
    ("negative money", lambda e: {"unit_price": pa.array([Decimal(1), Decimal(1), Decimal(-1)], pa.decimal128(12, 2))},
     "unit_price"),
    ("promo code too long", lambda e: {"promo_code": ["a", "b", "x" * 65]}, "promo_code"),
    ("tier of no event", lambda e: {"tier": ["GA", "VIP", "Balcony"]}, "tier"),
    ("unknown event", lambda e: {"event_id": [e, e, "event-that-never-was"]}, "event_id"),
    ("quantity", lambda e: {"quantity": pa.array([1, 2, 0], pa.int64())}, "quantity"),
    ("channel", lambda e: {"channel": ["web", "app", "fax"]}, "channel"),
    ("currency", lambda e: {"currency": ["EUR", "EUR", "XYZ"]}, "currency"),
    ("not the event's currency", lambda e: {"currency": ["EUR", "EUR", "USD"]}, "currency"),
    ("time years ahead", lambda e: {"purchased_at": pa.array(
        [datetime.now(UTC), datetime.now(UTC), datetime(2031, 1, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC"))},
     "purchased_at"),
    ("buyer country", lambda e: {"buyer": pa.array([{"country": "DE"}, {"country": None}, {"country": "XX"}])},
     "buyer.country"),
]  # fmt: skip


@pytest.mark.parametrize("bad", COLUMNAR_BAD, ids=[case for case, _, _ in COLUMNAR_BAD])
def test_columnar_bodies_follow_the_same_contract(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client,
    bad: tuple[str, Callable[[str], dict[str, Any]], str],
) -> None:  # fmt: skip
    case, overrides, field = bad
    table = _columnar_sales(catalog["event"], 3, **overrides(catalog["event"]))
    headers = {"X-API-Key": keys["ingest"], "Content-Type": "application/vnd.apache.arrow.stream"}
    response = http.post("/api/ingest/sale", content=_arrow_stream(table), headers=headers)
    assert response.status_code == 422, (case, response.text)
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(2, field)], case
    assert _count(tt, "sales", "sale_id", table.column("sale_id").to_pylist()) == 0


def test_a_partial_columnar_body_quarantines_rows_of_any_column_type(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    """Nanosecond columns (pandas' unit) come out of Arrow as pandas objects: msgspec refused such times as
    not a datetime (every row rejected), and the quarantine's JSON could not hold them (a 500). A column
    the contract does not know is ignored, but kept in the quarantined record."""
    moment = datetime.now(UTC) - timedelta(hours=1)
    table = _columnar_sales(
        catalog["event"], 3,
        purchased_at=pa.array([moment] * 3, pa.timestamp("ns", tz="UTC")),
        quantity=pa.array([1, 2, 0], pa.int64()),
        waited=pa.array([1, 2, 3_000_000_000], pa.duration("ns")),
    )  # fmt: skip
    response = http.post(
        "/api/ingest/sale",
        params={"partial": "true"},
        content=_arrow_stream(table),
        headers={"X-API-Key": keys["ingest"], "Content-Type": "application/vnd.apache.arrow.stream"},
    )
    assert response.status_code == 200, response.text
    assert (response.json()["accepted"], response.json()["quarantined"]) == (2, 1)
    bad = table.column("sale_id")[2].as_py()
    record = tt.command(
        "SELECT record FROM ingest_quarantine WHERE JSONExtractString(record, 'sale_id') = {id:String}",
        parameters={"id": bad},
    )
    quarantined = json.loads(str(record))
    assert quarantined["purchased_at"].startswith(moment.strftime("%Y-%m-%dT%H:%M:%S"))
    assert quarantined["waited"] == "P0DT0H0M3S"
    assert _count(tt, "sales", "sale_id", table.column("sale_id").to_pylist()) == 2


def test_clean_columnar_bodies_with_buyers_and_duplicates(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    buyers = pa.array([{"birth_year": 1990, "gender": "f", "postal_code": "10115", "city": "Berlin", "region": "BE",
                        "country": "DE", "lat": 52.5, "lon": 13.4}] * 4)  # fmt: skip
    table = _columnar_sales(catalog["event"], 4, buyer=buyers, unit_price=["1.5", "2", "3.25", "0"])
    headers = {"X-API-Key": keys["ingest"], "Content-Type": "application/vnd.apache.arrow.stream"}
    first = http.post("/api/ingest/sale", content=_arrow_stream(table), headers=headers).json()
    assert (first["accepted"], first["duplicates"]) == (4, 0)
    # Half old, half new: the old half are duplicates.
    newer = _columnar_sales(catalog["event"], 2, buyer=buyers.slice(0, 2), unit_price=["1", "1"])
    mixed = pa.concat_tables([table.slice(0, 2), newer])
    second = http.post("/api/ingest/sale", content=_arrow_stream(mixed), headers=headers).json()
    assert (second["accepted"], second["duplicates"]) == (2, 2)
    rows = tt.query(
        "SELECT unit_price, buyer_country, buyer_birth_year FROM sales FINAL WHERE sale_id IN {ids:Array(String)} "
        "ORDER BY unit_price",
        parameters={"ids": table.column("sale_id").to_pylist()},
    ).result_rows
    assert rows == [(Decimal("0"), "DE", 1990), (Decimal("1.5"), "DE", 1990), (Decimal("2"), "DE", 1990),
                    (Decimal("3.25"), "DE", 1990)]  # fmt: skip


# Null optional text, as pandas, polars and JSON encoders write a missing value: stored as none ("").
NULL_TEXT_BUYERS = [{"country": "DE", "birth_year": 1990}, {"gender": "f", "city": "Berlin"},
                    {"gender": None, "postal_code": None, "city": None, "region": None}]  # fmt: skip


@pytest.mark.parametrize("columnar", [None, *COLUMNAR], ids=["json", "arrow", "parquet"])
def test_null_optional_text_is_none(
    http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client,
    columnar: tuple[str, Callable[[pa.Table], bytes]] | None,
) -> None:  # fmt: skip
    """Null promo codes and buyer fields are taken as absent. They used to refuse whole backfills: a struct column
    of buyers holds a null wherever one buyer lacks a field another has."""
    promo_codes = [None, "SPRING", None]
    if columnar is None:
        sales = [f.sale(catalog["event"], promo_code=code, buyer=buyer)
                 for code, buyer in zip(promo_codes, NULL_TEXT_BUYERS, strict=True)]  # fmt: skip
        ids = [sale["sale_id"] for sale in sales]
        response = _post(http, keys["ingest"], "sale", sales)
    else:
        media_type, encode = columnar
        table = _columnar_sales(catalog["event"], 3, promo_code=promo_codes, buyer=NULL_TEXT_BUYERS)
        ids = table.column("sale_id").to_pylist()
        headers = {"X-API-Key": keys["ingest"], "Content-Type": media_type}
        response = http.post("/api/ingest/sale", content=encode(table), headers=headers)
    assert response.status_code == 200, response.text
    assert (response.json()["accepted"], response.json()["rejected"]) == (3, 0)
    rows = tt.query(
        "SELECT promo_code, buyer_gender, buyer_postal_code, buyer_city, buyer_region, buyer_country FROM sales"
        " WHERE sale_id IN {ids:Array(String)} ORDER BY indexOf({ids:Array(String)}, sale_id)",
        parameters={"ids": ids},
    ).result_rows
    assert rows == [("", "", "", "", "", "DE"), ("SPRING", "f", "", "Berlin", "", ""), ("", "", "", "", "", "")]


def _metric(http: httpx.Client, admin: str, name: str, **labels: str) -> float:
    for line in http.get("/metrics", headers={"X-API-Key": admin}).text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_concurrent_single_sales_share_inserts(
    api_server: Any, http: httpx.Client, keys: dict[str, str], catalog: dict[str, str], tt: Client
) -> None:
    batches_before = _metric(http, keys["admin"], "tickettoken_ingest_batches_total", stream="sale")
    records_before = _metric(http, keys["admin"], "tickettoken_ingest_records_total", stream="sale", outcome="accepted")
    sales = [f.sale(catalog["event"]) for _ in range(40)]
    start = threading.Barrier(len(sales))
    answers: list[int] = []

    def send(sale: dict[str, Any]) -> None:
        with httpx.Client(base_url=api_server.url, timeout=60) as client:
            start.wait()
            answers.append(_post(client, keys["ingest"], "sale", sale).status_code)

    threads = [threading.Thread(target=send, args=(sale,)) for sale in sales]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * len(sales)
    batches = _metric(http, keys["admin"], "tickettoken_ingest_batches_total", stream="sale") - batches_before
    records = _metric(http, keys["admin"], "tickettoken_ingest_records_total", stream="sale", outcome="accepted")
    assert records - records_before == len(sales)
    assert batches < len(sales) / 2, f"{batches:g} INSERTs for {len(sales)} concurrent requests: not shared"
    assert _count(tt, "sales", "sale_id", [s["sale_id"] for s in sales]) == len(sales)

"""The live endpoints on hand-made data, with the exact figures they must give: copies never counted, exits
and re-entries, DST in the buckets, unknown events, other organizers and bad parameters."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from redis import Redis

from api.app import create_app
from api.auth.keys import KeyStore, Scope
from tests import factories as f
from tests.support import WarehouseServer

T = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)


def _at(delta: timedelta) -> str:
    return (T + delta).isoformat()


def _ingest(http: httpx.Client, key: str, stream: str, records: Any) -> dict[str, Any]:
    response = http.post(f"/api/ingest/{stream}", json=records, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def event_id(http: httpx.Client, keys: dict[str, str], warehouse: WarehouseServer) -> str:
    """Capacity 10 (GA 6 at 50.00, VIP 4 at 120.00) in Berlin, five sales (one of them stored twice), and
    scans with an exit, a re-entry and a copy."""
    key = keys["ingest"]
    venue = f.venue(timezone="Europe/Berlin")
    tiers = [{"name": "GA", "price": "50.00", "capacity": 6}, {"name": "VIP", "price": "120.00", "capacity": 4}]
    event = f.event(venue["venue_id"], capacity=10, tiers=tiers)
    _ingest(http, key, "venue", venue)
    _ingest(http, key, "event", event)
    e = event["event_id"]

    specs = [  # number, tier, quantity, price, channel, minutes before T
        (1, "GA", 2, "50.00", "web", -90),
        (2, "GA", 1, "50.00", "app", -30),
        (3, "VIP", 1, "120.00", "web", -10),
        (4, "GA", 2, "50.00", "web", -3),
        (5, "VIP", 1, "120.00", "app", -0.5),
    ]
    sales = [
        f.sale(
            e,
            sale_id=f"{e}-s{n}",
            tier=tier,
            quantity=quantity,
            unit_price=price,
            channel=channel,
            purchased_at=_at(timedelta(minutes=minutes)),
        )
        for n, tier, quantity, price, channel, minutes in specs
    ]
    assert _ingest(http, key, "sale", sales)["accepted"] == 5
    assert _ingest(http, key, "sale", sales[3])["duplicates"] == 1
    # A copy that slipped past the duplicate check (as from another worker): the table holds it twice.
    client = warehouse.client(database="tickettoken")
    client.command("INSERT INTO sales SELECT * FROM sales WHERE sale_id = {s:String}", parameters={"s": f"{e}-s4"})
    assert client.command("SELECT count() FROM sales WHERE event_id = {e:String}", parameters={"e": e}) == 6

    def scan(n: int, ticket: str, gate: str, direction: str, minutes: float) -> dict[str, Any]:
        return f.scan(e, scan_id=f"{e}-c{n}", ticket_id=ticket, gate=gate, direction=direction,
                      scanned_at=_at(timedelta(minutes=minutes)))  # fmt: skip

    scans = [
        scan(1, "t1", "A", "entry", -50),
        scan(2, "t2", "A", "entry", -40),
        scan(3, "t2", "A", "exit", -20),
        scan(4, "t2", "A", "entry", -4),  # re-entry
        scan(5, "t3", "B", "entry", -14),
        scan(6, "t3", "B", "exit", -2),
        scan(7, "t4", "B", "entry", -0.5),
    ]
    assert _ingest(http, key, "attendance", scans)["accepted"] == 7
    assert _ingest(http, key, "attendance", scans[0])["duplicates"] == 1

    def line(n: int, category: str, amount: str, minutes: float) -> dict[str, Any]:
        return f.revenue(e, revenue_id=f"{e}-r{n}", category=category, amount=amount,
                         recorded_at=_at(timedelta(minutes=minutes)))  # fmt: skip

    lines = [
        line(1, "tickets", "100.00", -90),
        line(2, "fees", "12.50", -30),
        line(3, "merchandise", "40.00", -10),
        line(4, "refund", "-50.00", -5),
        line(5, "food_beverage", "20.00", -1),
    ]
    assert _ingest(http, key, "revenue", lines)["accepted"] == 5
    assert _ingest(http, key, "revenue", lines[2])["duplicates"] == 1

    def post(
        n: int, platform: str, kind: str, minutes: float, reach: int, *, sentiment: float | None
    ) -> dict[str, Any]:
        record = f.social(e, post_id=f"{e}-p{n}", platform=platform, kind=kind, reach=reach, engagement=reach // 10,
                          posted_at=_at(timedelta(minutes=minutes)))  # fmt: skip
        if sentiment is None:
            del record["sentiment"]
        else:
            record["sentiment"] = sentiment
        return record

    posts = [
        post(1, "x", "post", -20 * 60, 100, sentiment=0.5),
        post(2, "instagram", "share", -120, 200, sentiment=-0.5),
    ]
    posts += [post(n, "tiktok", "like", -10 + n / 2, 10, sentiment=None) for n in range(3, 15)]
    assert _ingest(http, key, "social", posts)["accepted"] == 14
    assert _ingest(http, key, "social", posts[2])["duplicates"] == 1
    return str(e)


def _get(http: httpx.Client, key: str | None, path: str, **params: Any) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    return http.get(path, params={"at": T.isoformat(), **params}, headers=headers)


def test_live_sales_of_an_event(http: httpx.Client, keys: dict[str, str], event_id: str) -> None:
    response = _get(http, keys["read"], f"/api/realtime/sales/{event_id}", window=60, bucket=15)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["tickets"], body["sales"], Decimal(body["gross"])) == (7, 5, Decimal("490.00"))
    assert body["currency"] == "EUR"
    assert body["capacity"] == 10 and body["sell_through"] == 0.7
    assert body["timezone"] == "Europe/Berlin" and body["at"].endswith("+01:00")
    tiers = {t["name"]: (t["tickets"], Decimal(t["gross"]), t["capacity"], t["sell_through"]) for t in body["by_tier"]}
    assert tiers == {"GA": (5, Decimal(250), 6, 0.833333), "VIP": (2, Decimal(240), 4, 0.5)}
    channels = {c["name"]: (c["tickets"], Decimal(c["gross"])) for c in body["by_channel"]}
    assert channels == {"app": (2, Decimal(170)), "web": (5, Decimal(320))}
    assert body["velocity"] == {"1m": 1, "5m": 3, "15m": 4, "60m": 5}
    assert sum(Decimal(b["value"]) for b in body["series"]) == 5, "s2..s5 fall in the last hour, s1 does not"
    assert all(datetime.fromisoformat(b["at"]).minute % 15 == 0 for b in body["series"])
    assert [(m["share"], m["tickets"]) for m in body["milestones"]] == [(0.25, 3), (0.5, 5)]
    assert datetime.fromisoformat(body["milestones"][0]["reached_at"]) == T - timedelta(minutes=30)
    assert datetime.fromisoformat(body["milestones"][1]["reached_at"]) == T - timedelta(minutes=3)
    assert datetime.fromisoformat(body["projected_sell_out_at"]) == T + timedelta(minutes=36), "3 left at 5/hour"
    assert body["sold_out_at"] is None


def test_an_event_naming_no_currency_is_shown_in_its_facts(http: httpx.Client, keys: dict[str, str]) -> None:
    venue = f.venue()
    event = f.event(venue["venue_id"], currency=None)
    for stream, record in (("venue", venue), ("event", event), ("sale", f.sale(event["event_id"], currency="CHF"))):
        _ingest(http, keys["ingest"], stream, record)
    for view in ("sales", "revenue"):
        response = http.get(f"/api/realtime/{view}/{event['event_id']}", headers={"X-API-Key": keys["read"]})
        assert response.json()["currency"] == "CHF", view


def test_no_sell_out_is_projected_past_the_start(http: httpx.Client, keys: dict[str, str]) -> None:
    """4 of 10 tickets sold in the last hour: at that pace the rest take 90 minutes. An event starting in an hour
    was shown a sell-out half an hour after its doors opened."""
    venue = f.venue()
    projected = {}
    for starts_in in (60, 120):
        event = f.event(venue["venue_id"], capacity=10, tiers=[{"name": "GA", "price": "10.00", "capacity": 10}],
                        starts_at=_at(timedelta(minutes=starts_in)))  # fmt: skip
        sales = [f.sale(event["event_id"], tier="GA", unit_price="10.00", quantity=2,
                        purchased_at=_at(timedelta(minutes=-m))) for m in (10, 40)]  # fmt: skip
        for stream, records in (("venue", venue), ("event", event), ("sale", sales)):
            _ingest(http, keys["ingest"], stream, records)
        answer = _get(http, keys["read"], f"/api/realtime/sales/{event['event_id']}").json()
        projected[starts_in] = answer["projected_sell_out_at"]
    assert projected[60] is None
    assert datetime.fromisoformat(projected[120]) == T + timedelta(minutes=90)


def test_a_new_version_of_an_event_shows_at_once(http: httpx.Client, keys: dict[str, str]) -> None:
    """A new capacity showed only once the worker read the event again (five to ten seconds later)."""
    venue = f.venue()
    event = f.event(venue["venue_id"], capacity=10, tiers=[{"name": "GA", "price": "10.00", "capacity": 10}])
    for stream, record in (("venue", venue), ("event", event)):
        _ingest(http, keys["ingest"], stream, record)
    path = f"/api/realtime/sales/{event['event_id']}"
    assert _get(http, keys["read"], path).json()["capacity"] == 10
    bigger = {**event, "capacity": 20, "tiers": [{"name": "GA", "price": "10.00", "capacity": 20}],
              "updated_at": f._iso(f.now() + timedelta(seconds=1))}  # fmt: skip
    _ingest(http, keys["ingest"], "event", bigger)
    answer = _get(http, keys["read"], path, window=30).json()  # another window: not the answer cached a moment ago
    assert (answer["capacity"], answer["by_tier"][0]["capacity"]) == (20, 20)


def test_live_attendance_of_an_event(http: httpx.Client, keys: dict[str, str], event_id: str) -> None:
    response = _get(http, keys["read"], f"/api/realtime/attendance/{event_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["entries"], body["exits"], body["inside"], body["attendees"]) == (5, 2, 3, 4)
    assert (body["tickets_sold"], body["no_shows"], body["share_of_capacity"], body["alert"]) == (7, 3, 0.3, "normal")
    assert body["entry_rate"] == {"1m": 1, "5m": 2, "15m": 3, "60m": 5}
    assert body["by_gate"] == [{"gate": "A", "entries": 3, "exits": 1}, {"gate": "B", "entries": 2, "exits": 1}]
    assert sum(Decimal(b["value"]) for b in body["series"]) == 5


def test_inside_counts_tickets_whose_last_scan_is_an_entry(http: httpx.Client, keys: dict[str, str]) -> None:
    """Gates read a ticket twice, or miss an entry and see the exit: entries minus exits would say 1 inside."""
    venue = f.venue()
    event = f.event(venue["venue_id"], capacity=10, tiers=[{"name": "GA", "price": "10.00", "capacity": 10}])
    e = event["event_id"]
    scans = [  # ticket, direction, minutes before T
        ("t1", "entry", -30), ("t1", "entry", -29), ("t2", "entry", -20),  # t1 read twice
        ("t3", "exit", -10), ("t4", "exit", -5),  # their entries were never recorded
        ("t5", "entry", -4), ("t5", "exit", -3),
    ]  # fmt: skip
    records = [f.scan(e, ticket_id=t, direction=d, scanned_at=_at(timedelta(minutes=m))) for t, d, m in scans]
    for stream, body in (("venue", venue), ("event", event), ("attendance", records)):
        _ingest(http, keys["ingest"], stream, body)
    body = _get(http, keys["read"], f"/api/realtime/attendance/{e}").json()
    assert (body["entries"], body["exits"], body["inside"], body["attendees"]) == (4, 3, 2, 3)
    assert (body["share_of_capacity"], body["alert"]) == (0.2, "normal")


def test_text_that_is_not_utf8_written_around_the_api_still_shows(
    http: httpx.Client, keys: dict[str, str], warehouse: WarehouseServer
) -> None:
    """Ingest refuses text that is not UTF-8, but an admin's own INSERT may write it (Latin-1 from an old export):
    every live view of its event then answered 500. Its bytes are now shown escaped, each distinct. (Copied from
    another event's rows, as the live views hear only ingest's own writes once they watch an event.)"""
    venue = f.venue()
    tiers = [{"name": "GA", "price": "10.00", "capacity": 10}]
    source, event = (f.event(venue["venue_id"], capacity=10, tiers=tiers) for _ in range(2))
    sale = f.sale(source["event_id"], tier="GA", quantity=1, unit_price="10.00", channel="web",
                  purchased_at=_at(timedelta(minutes=-3)))  # fmt: skip
    scan = f.scan(source["event_id"], ticket_id="t1", gate="A", scanned_at=_at(timedelta(minutes=-2)))
    for stream, body in (("venue", venue), ("event", [source, event]), ("sale", sale), ("attendance", scan)):
        _ingest(http, keys["ingest"], stream, body)
    client, e = warehouse.client(database="tickettoken"), event["event_id"]
    for table, column, id_field in (("sales", "channel", "sale_id"), ("scans", "gate", "scan_id")):
        for text in ("'web'", "'A'", "unhex('636166e9')", "unhex('636166ff')"):  # "caf" in Latin-1; a byte no UTF-8 has
            client.command(
                f"INSERT INTO {table} SELECT * REPLACE ({text} AS {column}, {{e:String}} AS event_id, "
                f"concat({id_field}, hex({text})) AS {id_field}) "  # a subquery: the WHERE would see the new id
                f"FROM (SELECT * FROM {table} WHERE event_id = {{source:String}})",
                parameters={"e": e, "source": source["event_id"]},
            )
    sales = _get(http, keys["read"], f"/api/realtime/sales/{e}")
    assert sales.status_code == 200, sales.text
    assert sorted((c["name"], c["tickets"]) for c in sales.json()["by_channel"]) == [
        ("A", 1), ("caf\\xe9", 1), ("caf\\xff", 1), ("web", 1)]  # fmt: skip
    attendance = _get(http, keys["read"], f"/api/realtime/attendance/{e}")
    assert attendance.status_code == 200, attendance.text
    assert sorted(g["gate"] for g in attendance.json()["by_gate"]) == ["A", "caf\\xe9", "caf\\xff", "web"]


def test_live_revenue_of_an_event(http: httpx.Client, keys: dict[str, str], event_id: str) -> None:
    response = _get(http, keys["read"], f"/api/realtime/revenue/{event_id}", window=60, bucket=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (Decimal(body["total"]), Decimal(body["refunds"]), body["refund_lines"]) == (
        Decimal("122.50"),
        Decimal(-50),
        1,
    )
    categories = {c["category"]: (Decimal(c["amount"]), c["lines"]) for c in body["by_category"]}
    assert categories == {
        "tickets": (Decimal(100), 1), "fees": (Decimal("12.5"), 1), "merchandise": (Decimal(40), 1),
        "refund": (Decimal(-50), 1), "food_beverage": (Decimal(20), 1),
    }  # fmt: skip
    assert Decimal(body["last_hour"]) == Decimal("22.50")
    assert sum(Decimal(b["value"]) for b in body["series"]) == Decimal("22.50")
    ends_at = datetime.fromisoformat(body["ends_at"])
    hours_left = Decimal((ends_at - T).total_seconds() / 3600)
    assert Decimal(body["projected_total"]) == (Decimal("122.50") + Decimal("22.50") * hours_left).quantize(
        Decimal("0.01")
    )


def test_live_social_activity_of_an_event(http: httpx.Client, keys: dict[str, str], event_id: str) -> None:
    response = _get(http, keys["read"], f"/api/realtime/social/{event_id}", window=60, bucket=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["posts"], body["reach"], body["engagement"], body["sentiment"]) == (14, 420, 42, 0.0)
    assert [(p["name"], p["posts"]) for p in body["by_platform"]] == [("instagram", 1), ("tiktok", 12), ("x", 1)]
    assert [(k["name"], k["posts"]) for k in body["by_kind"]] == [("like", 12), ("post", 1), ("share", 1)]
    assert sum(Decimal(b["value"]) for b in body["series"]) == 12
    # Activity per minute by platform and kind: each one's posts in each bucket of the series (only totals before).
    minutely = _get(http, keys["read"], f"/api/realtime/social/{event_id}", window=180, bucket=1).json()
    starts = [datetime.fromisoformat(b["at"]) for b in minutely["series"]]

    def busy(entry: dict[str, Any]) -> dict[int, int]:
        """Minutes from T of the buckets with posts: their posts."""
        assert len(entry["per_bucket"]) == len(starts)
        return {int((at - T).total_seconds() // 60): n for at, n in zip(starts, entry["per_bucket"], strict=True) if n}

    likes = {-9: 1, -8: 2, -7: 2, -6: 2, -5: 2, -4: 2, -3: 1}  # a post every 30 s from 8.5 to 3 minutes before T
    assert {p["name"]: busy(p) for p in minutely["by_platform"]} == {"instagram": {-120: 1}, "tiktok": likes, "x": {}}
    assert {k["name"]: busy(k) for k in minutely["by_kind"]} == {"like": likes, "post": {}, "share": {-120: 1}}
    quarters = (20 * 60 - 15) / 15  # from the first post, 20 hours before, to the last quarter hour
    assert (body["last_15_minutes"], body["baseline_15_minutes"]) == (12, round(2 / quarters, 4))
    assert (body["viral_score"], body["trending"]) == (12.0, True)
    quiet = _get(http, keys["read"], f"/api/realtime/social/{event_id}", at=(T - timedelta(minutes=30)).isoformat())
    assert (quiet.json()["last_15_minutes"], quiet.json()["trending"]) == (0, False), "before the burst"


def test_steady_social_activity_a_few_hours_old_is_not_a_trend(http: httpx.Client, keys: dict[str, str]) -> None:
    """A post every 90 seconds for two hours: the last quarter hour is the event's usual rate, not a spike (over
    a fixed 24 hours the baseline was 0.73 a quarter hour: a score of 10, trending)."""
    venue = f.venue()
    event = f.event(venue["venue_id"])
    e = event["event_id"]
    seconds = [-7200 + 90 * k for k in range(70)] + [-855 + 90 * k for k in range(10)]  # 70 before the last 15 min
    posts = [f.social(e, posted_at=_at(timedelta(seconds=s))) for s in seconds]
    for stream, body in (("venue", venue), ("event", event), ("social", posts)):
        _ingest(http, keys["ingest"], stream, body)
    body = _get(http, keys["read"], f"/api/realtime/social/{e}").json()
    assert (body["last_15_minutes"], body["baseline_15_minutes"]) == (10, 10.0)
    assert (body["viral_score"], body["trending"]) == (1.0, False)


def test_hour_buckets_follow_the_zone_through_a_dst_change(http: httpx.Client, keys: dict[str, str]) -> None:
    # Berlin left summer time on 2025-10-26 at 01:00 UTC: local 02:00-03:00 happened twice.
    venue = f.venue(timezone="Europe/Berlin")
    event = f.event(venue["venue_id"], starts_at="2025-11-01T20:00:00+01:00", on_sale_at="2025-09-01T10:00:00+02:00",
                    updated_at="2025-09-01T00:00:00+00:00")  # fmt: skip
    _ingest(http, keys["ingest"], "venue", venue)
    _ingest(http, keys["ingest"], "event", event)
    e = event["event_id"]
    sales = [f.sale(e, purchased_at="2025-10-26T00:30:00+00:00"), f.sale(e, purchased_at="2025-10-26T01:30:00+00:00")]
    _ingest(http, keys["ingest"], "sale", sales)
    quantity = sales[0]["quantity"]
    path = f"/api/realtime/sales/{e}"
    common: dict[str, Any] = {"at": "2025-10-26T02:30:00+00:00", "window": 180, "bucket": 60}
    berlin = http.get(path, params=common, headers={"X-API-Key": keys["read"]}).json()
    # The window, 23:30-02:30 UTC, meets four hour buckets; the quiet ones are listed as 0.
    assert [(b["at"], int(b["value"])) for b in berlin["series"]] == [
        ("2025-10-26T01:00:00+02:00", 0),
        ("2025-10-26T02:00:00+02:00", quantity),
        ("2025-10-26T02:00:00+01:00", sales[1]["quantity"]),
        ("2025-10-26T03:00:00+01:00", 0),
    ]
    kolkata = http.get(path, params={**common, "tz": "Asia/Kolkata"}, headers={"X-API-Key": keys["read"]}).json()
    assert [(b["at"], int(b["value"])) for b in kolkata["series"]] == [
        ("2025-10-26T05:00:00+05:30", 0),
        ("2025-10-26T06:00:00+05:30", quantity),
        ("2025-10-26T07:00:00+05:30", sales[1]["quantity"]),
        ("2025-10-26T08:00:00+05:30", 0),  # 02:30 UTC, the window's end, begins a bucket
    ]


def test_unknown_events_other_organizers_and_bad_parameters(
    http: httpx.Client, keys: dict[str, str], event_id: str, warehouse: WarehouseServer
) -> None:
    read = keys["read"]
    assert _get(http, read, "/api/realtime/sales/no-such-event").status_code == 404
    assert _get(http, read, "/api/realtime/attendance/no-such-event").status_code == 404
    too_long = _get(http, read, "/api/realtime/social/" + "x" * 5000)  # its 5,000 characters were echoed back
    assert (too_long.status_code, too_long.json()["detail"]) == (404, "no event: event ids are 1 to 128 characters")
    other, _ = KeyStore(warehouse.client(database="tickettoken")).create({Scope.READ}, organizer_id="org-2")
    own, _ = KeyStore(warehouse.client(database="tickettoken")).create({Scope.READ}, organizer_id="org-1")
    assert _get(http, other, f"/api/realtime/sales/{event_id}").status_code == 403
    assert _get(http, own, f"/api/realtime/sales/{event_id}").status_code == 200
    assert _get(http, None, f"/api/realtime/sales/{event_id}").status_code == 401
    assert _get(http, keys["org1"], f"/api/realtime/sales/{event_id}").status_code == 403, "an ingest key cannot read"
    response = _get(http, read, f"/api/realtime/sales/{event_id}", tz="Mars/Olympus")
    assert response.status_code == 400 and "tz" in response.json()["detail"]
    lower = _get(http, read, f"/api/realtime/sales/{event_id}", tz="asia/KOLKATA")  # zone names, in any case
    assert (lower.status_code, lower.json()["timezone"]) == (200, "Asia/Kolkata")
    response = _get(http, read, f"/api/realtime/sales/{event_id}", window=60, bucket=0)
    assert response.status_code == 400 and "bucket" in response.text
    response = http.get(
        f"/api/realtime/sales/{event_id}", params={"at": "2026-01-01T10:00:00"}, headers={"X-API-Key": read}
    )
    assert response.status_code == 400 and "at" in response.json()["detail"]
    # Printed in a zone west of UTC, the first moment Python has overflowed (a 500 before `at` had bounds).
    for at in ("0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00", "2200-01-01T00:00:00+00:00"):
        response = _get(http, read, f"/api/realtime/revenue/{event_id}", at=at, tz="America/St_Johns")
        assert response.status_code == 400, (at, response.text)
        assert response.json()["detail"].startswith("invalid query parameter at:"), at
    assert _get(http, read, f"/api/realtime/revenue/{event_id}", at="1970-01-01T00:00:00+00:00").status_code == 200


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "memory"])
def test_answers_are_reused_for_at_most_a_second(
    shared: bool, warehouse: WarehouseServer, keys: dict[str, str], redis_url: str
) -> None:
    settings = warehouse.settings(redis_url=redis_url if shared else None)
    headers = {"X-API-Key": keys["ingest"]}
    with TestClient(app=create_app(settings)) as api:
        venue = f.venue()
        event = f.event(venue["venue_id"])
        for stream, record in (("venue", venue), ("event", event), ("sale", f.sale(event["event_id"], quantity=2))):
            assert api.post(f"/api/ingest/{stream}", json=record, headers=headers).status_code == 200
        path = f"/api/realtime/sales/{event['event_id']}"
        read = {"X-API-Key": keys["read"]}
        assert api.get(path, headers=read).json()["tickets"] == 2
        api.post("/api/ingest/sale", json=f.sale(event["event_id"], quantity=3), headers=headers)
        assert api.get(path, headers=read).json()["tickets"] == 2, "the answer of a moment ago"
        time.sleep(1.1)
        assert api.get(path, headers=read).json()["tickets"] == 5, "at most a second old"
    if shared:
        cached = Redis.from_url(redis_url).keys("tickettoken:live:sales|*")
        assert any(event["event_id"].encode() in k for k in cached)


def test_head_is_answered_as_get_without_a_body(http: httpx.Client, keys: dict[str, str], event_id: str) -> None:
    """Uptime monitors check with HEAD, which the old service (Express) answered on every GET route: it was 405."""
    path = f"/api/realtime/sales/{event_id}"
    for url, headers in (("/health", {}), ("/ready", {}), (path, {"X-API-Key": keys["read"]})):
        got = http.get(url, headers=headers)
        for _ in range(2):  # the live answer from the route, then from memory (the fast path)
            head = http.head(url, headers=headers)
            assert (head.status_code, head.content) == (got.status_code, b""), url
            assert head.headers["content-type"] == got.headers["content-type"], url
            if url == "/ready":  # each answer measures the warehouse's latency: its length varies
                assert int(head.headers["content-length"]) > 0
                continue
            # The live answer is recomputed every second (its `at`): the GET just before the HEAD or just after.
            lengths = {str(len(got.content)), str(len((got := http.get(url, headers=headers)).content))}
            assert head.headers["content-length"] in lengths, url
    assert http.head(path).status_code == 401, "the key is checked as for GET"
    assert http.head("/api/ingest/sale", headers={"X-API-Key": keys["ingest"]}).status_code == 405

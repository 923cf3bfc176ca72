"""Socket.IO push with real clients: python-socketio subscribes with a read key, a sale is ingested, and
`sale-update` arrives with the right totals; milestones arrive once; other organizers and keyless clients are
refused; with two API processes sharing a real redis-server, an update crosses from one to the other."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio  # type: ignore[import-untyped]
from redis import Redis

from api.auth.keys import KeyStore, Scope
from tests import factories as f
from tests.support import ApiServer, WarehouseServer, api_pair


class Listener:
    """A python-socketio client that queues every pushed message by name."""

    def __init__(self, url: str, key: str | None) -> None:
        self.client = socketio.Client(reconnection=False)
        self.messages: dict[str, queue.Queue[dict[str, Any]]] = {}
        for name in ("sale-update", "sales-milestone", "attendance-update", "capacity-alert", "revenue-update",
                     "revenue-milestone", "social-update", "viral-trend"):  # fmt: skip
            self.messages[name] = queue.Queue()
            self.client.on(name, self.messages[name].put)
        self.client.connect(url, auth={"key": key} if key else None, wait_timeout=10)

    def subscribe(self, event_id: str) -> dict[str, Any]:
        return dict(self.client.call("subscribe-event", event_id, timeout=10))

    def next(self, name: str, timeout: float = 15.0) -> dict[str, Any]:
        return self.messages[name].get(timeout=timeout)

    def none(self, name: str, wait: float = 1.5) -> bool:
        try:
            self.messages[name].get(timeout=wait)
        except queue.Empty:
            return True
        return False


def _event(api: str, key: str, capacity: int = 10) -> str:
    venue = f.venue()
    event = f.event(
        venue["venue_id"], capacity=capacity, tiers=[{"name": "GA", "price": "10.00", "capacity": capacity}]
    )
    for stream, record in (("venue", venue), ("event", event)):
        assert httpx.post(f"{api}/api/ingest/{stream}", json=record, headers={"X-API-Key": key}).status_code == 200
    return str(event["event_id"])


def _sell(api: str, key: str, event_id: str, quantity: int) -> None:
    sale = f.sale(event_id, tier="GA", quantity=quantity, unit_price="10.00")
    assert httpx.post(f"{api}/api/ingest/sale", json=sale, headers={"X-API-Key": key}).status_code == 200


@pytest.fixture
def listener(api_server: ApiServer, keys: dict[str, str]) -> Iterator[Listener]:
    client = Listener(api_server.url, keys["read"])
    yield client
    client.client.disconnect()


def test_a_subscriber_hears_sales_and_each_milestone_once(
    api_server: ApiServer, keys: dict[str, str], listener: Listener
) -> None:
    event_id = _event(api_server.url, keys["ingest"])
    assert listener.subscribe(event_id) == {"ok": True, "event_id": event_id, "error": None}
    _sell(api_server.url, keys["ingest"], event_id, 3)
    update = listener.next("sale-update")
    assert (update["event_id"], update["tickets"], update["gross"], update["capacity"]) == (event_id, 3, "30.00", 10)
    milestone = listener.next("sales-milestone")
    assert (milestone["kind"], milestone["threshold"], milestone["tickets"]) == ("share", 0.25, 3)
    _sell(api_server.url, keys["ingest"], event_id, 1)
    assert listener.next("sale-update")["tickets"] == 4
    assert listener.none("sales-milestone"), "the 25% milestone went out once"
    _sell(api_server.url, keys["ingest"], event_id, 1)
    assert listener.next("sale-update")["tickets"] == 5
    assert listener.next("sales-milestone")["threshold"] == 0.5


def test_unsubscribed_clients_hear_nothing(api_server: ApiServer, keys: dict[str, str], listener: Listener) -> None:
    event_id = _event(api_server.url, keys["ingest"])
    listener.subscribe(event_id)
    assert listener.client.call("unsubscribe-event", event_id, timeout=10)["ok"] is True
    _sell(api_server.url, keys["ingest"], event_id, 1)
    assert listener.none("sale-update")


def test_other_organizers_and_keyless_clients_are_refused(
    api_server: ApiServer, keys: dict[str, str], warehouse: WarehouseServer
) -> None:
    event_id = _event(api_server.url, keys["ingest"])  # organizer org-1
    other, _ = KeyStore(warehouse.client(database="tickettoken")).create({Scope.READ}, organizer_id="org-2")
    stranger = Listener(api_server.url, other)
    try:
        answer = stranger.subscribe(event_id)
        assert answer["ok"] is False and "another organizer" in answer["error"]
        assert stranger.subscribe("no-such-event")["ok"] is False
    finally:
        stranger.client.disconnect()
    with pytest.raises(socketio.exceptions.ConnectionError):
        Listener(api_server.url, None)
    with pytest.raises(socketio.exceptions.ConnectionError):
        Listener(api_server.url, keys["ingest"])  # no read scope


def test_a_revoked_keys_sockets_are_cut_off(
    api_server: ApiServer, keys: dict[str, str], warehouse: WarehouseServer
) -> None:
    """A socket kept the key it connected with: revoked, it still subscribed and heard every update for as long
    as it stayed open. Now it is disconnected within the key cache's age plus a recheck (about ten seconds)."""
    store = KeyStore(warehouse.client(database="tickettoken"))
    secret, record = store.create({Scope.READ}, organizer_id="org-1")
    event_id = _event(api_server.url, keys["ingest"])
    doomed = Listener(api_server.url, secret)
    assert doomed.subscribe(event_id)["ok"] is True
    store.revoke(record.key_id)
    deadline = time.monotonic() + 20
    while doomed.client.connected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not doomed.client.connected, "the revoked key's socket is still open"
    _sell(api_server.url, keys["ingest"], event_id, 1)
    assert doomed.none("sale-update")
    with pytest.raises(socketio.exceptions.ConnectionError):
        Listener(api_server.url, secret)


def test_subscriptions_end_when_their_event_moves_to_another_organizer(
    api_server: ApiServer, keys: dict[str, str], warehouse: WarehouseServer
) -> None:
    """A subscription was checked once: an event moved to another organizer went on reaching the old one's
    sockets. Now they leave its room within seconds of the worker reading the event again."""
    secret, _ = KeyStore(warehouse.client(database="tickettoken")).create({Scope.READ}, organizer_id="org-1")
    venue = f.venue()
    event = f.event(venue["venue_id"], organizer_id="org-1", tiers=[{"name": "GA", "price": "10.00", "capacity": 100}])
    for stream, record in (("venue", venue), ("event", event)):
        api_server.ingest(keys["ingest"], stream, record)
    old_organizers = Listener(api_server.url, secret)
    try:
        assert old_organizers.subscribe(event["event_id"])["ok"] is True
        _sell(api_server.url, keys["ingest"], event["event_id"], 1)
        assert old_organizers.next("sale-update")["tickets"] == 1
        moved = {**event, "organizer_id": "org-2", "updated_at": f._iso(f.now() + timedelta(seconds=1))}
        api_server.ingest(keys["ingest"], "event", moved)
        deadline = time.monotonic() + 45
        while True:
            _sell(api_server.url, keys["ingest"], event["event_id"], 1)
            if old_organizers.none("sale-update", wait=2.5):
                break
            assert time.monotonic() < deadline, "the old organizer's socket still hears the event"
        _sell(api_server.url, keys["ingest"], event["event_id"], 1)
        assert old_organizers.none("sale-update", wait=2.5)
    finally:
        old_organizers.client.disconnect()


def test_odd_messages_are_answered_and_change_no_key(
    api_server: ApiServer, keys: dict[str, str], warehouse: WarehouseServer
) -> None:
    """A subscription without an event id is answered (it went unanswered); a client's own event named
    "connect" reached the connect handler, and with another key in it swapped the connection's key."""
    event_id = _event(api_server.url, keys["ingest"])  # organizer org-1
    other, _ = KeyStore(warehouse.client(database="tickettoken")).create({Scope.READ}, organizer_id="org-2")
    stranger = Listener(api_server.url, other)
    try:
        for name in ("subscribe-event", "unsubscribe-event"):
            answer = stranger.client.call(name, timeout=10)
            assert answer["ok"] is (name == "unsubscribe-event"), (name, answer)
        assert stranger.client.call("subscribe-event", (event_id, "more"), timeout=10)["ok"] is False
        # An id longer than any the ingest contract takes names no event: refused without echoing it back.
        answer = stranger.client.call("subscribe-event", "x" * 100_000, timeout=10)
        assert (answer["ok"], answer["event_id"], answer["error"]) == (False, "", "event ids are 1 to 128 characters")
        stranger.client.emit("connect", ({}, {"key": keys["read"]}))  # a key of every organizer
        time.sleep(1)  # handlers run as tasks: give that one time to check the key
        answer = stranger.subscribe(event_id)
        assert answer["ok"] is False and "another organizer" in answer["error"]
    finally:
        stranger.client.disconnect()


def test_an_update_crosses_api_processes_through_redis(
    warehouse: WarehouseServer, keys: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    with api_pair(warehouse, redis_url, tmp_path) as (first, second):
        event_id = _event(second.url, keys["ingest"])
        listener = Listener(first.url, keys["read"])
        try:
            assert listener.subscribe(event_id)["ok"] is True
            _sell(second.url, keys["ingest"], event_id, 2)  # committed by the second process
            assert listener.next("sale-update")["tickets"] == 2
        finally:
            listener.client.disconnect()


def test_a_subscription_outlasts_its_mark_in_redis(
    warehouse: WarehouseServer, keys: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    """With Redis an event counts as watched while its mark there lasts. The mark was made at subscription alone, for
    an hour: a dashboard open longer heard nothing more, from any process, its own included."""
    with api_pair(warehouse, redis_url, tmp_path) as (first, second):
        event_id = _event(second.url, keys["ingest"], capacity=1000)
        listener = Listener(first.url, keys["read"])
        redis = Redis.from_url(redis_url)
        try:
            assert listener.subscribe(event_id)["ok"] is True
            mark = f"tickettoken:watched:{event_id}"
            assert redis.delete(mark) == 1  # as its expiry would
            _sell(first.url, keys["ingest"], event_id, 2)  # the subscriber's own process knows its sockets
            assert listener.next("sale-update")["tickets"] == 2
            deadline = time.monotonic() + 20
            while not redis.exists(mark) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert redis.exists(mark), "the process holding the subscription marks its event watched again"
            _sell(second.url, keys["ingest"], event_id, 3)
            assert listener.next("sale-update")["tickets"] == 5
        finally:
            listener.client.disconnect()
            redis.close()


def test_a_late_subscriber_hears_only_what_is_crossed_after_it_subscribed(
    api_server: ApiServer, keys: dict[str, str], listener: Listener
) -> None:
    """Milestones reached while no one listened went out to the next subscriber at its first update, stamped as
    just reached: a dashboard opened on an event sold at 60% heard 25% and 50% at its first sale."""
    api, key = api_server.url, keys["ingest"]
    event_id = _event(api, key)
    _sell(api, key, event_id, 6)
    revenue = f.revenue(event_id, category="tickets", amount="1000.00")
    assert httpx.post(f"{api}/api/ingest/revenue", json=revenue, headers={"X-API-Key": key}).status_code == 200
    other = Listener(api, keys["read"])
    try:
        with ThreadPoolExecutor(2) as pool:  # at once: the second waits for what the first one's subscription took
            answers = list(pool.map(lambda client: client.subscribe(event_id), (listener, other)))
        assert [answer["ok"] for answer in answers] == [True, True]
        _sell(api, key, event_id, 1)
        assert listener.next("sale-update")["tickets"] == other.next("sale-update")["tickets"] == 7
        assert listener.none("sales-milestone"), "25% and 50% were reached before the subscription"
        assert other.none("sales-milestone", wait=0.1)
    finally:
        other.client.disconnect()
    more = f.revenue(event_id, category="fees", amount="5.00")
    assert httpx.post(f"{api}/api/ingest/revenue", json=more, headers={"X-API-Key": key}).status_code == 200
    assert listener.next("revenue-update")["total"] == "1005.00"
    assert listener.none("revenue-milestone")
    _sell(api, key, event_id, 1)
    assert listener.next("sale-update")["tickets"] == 8
    milestone = listener.next("sales-milestone")
    assert (milestone["kind"], milestone["threshold"], milestone["tickets"]) == ("share", 0.75, 8)
    assert listener.none("sales-milestone")


def test_capacity_alerts_and_revenue_milestones_go_out_once(
    api_server: ApiServer, keys: dict[str, str], listener: Listener
) -> None:
    api, key = api_server.url, keys["ingest"]
    event_id = _event(api, key, capacity=2)
    assert listener.subscribe(event_id)["ok"] is True

    def post(stream: str, record: dict[str, Any]) -> None:
        assert httpx.post(f"{api}/api/ingest/{stream}", json=record, headers={"X-API-Key": key}).status_code == 200

    post("attendance", f.scan(event_id, ticket_id="t1"))
    assert listener.next("attendance-update")["inside"] == 1
    assert listener.none("capacity-alert"), "half full: no alert"
    post("attendance", f.scan(event_id, ticket_id="t2"))
    assert listener.next("attendance-update")["inside"] == 2
    alerts = [listener.next("capacity-alert"), listener.next("capacity-alert")]
    assert sorted(a["level"] for a in alerts) == ["full", "warning"] and alerts[0]["inside"] == 2
    post("attendance", f.scan(event_id, ticket_id="t2", direction="exit"))
    assert listener.next("attendance-update")["inside"] == 1
    post("attendance", f.scan(event_id, ticket_id="t2"))  # back in: full again, but already announced
    assert listener.next("attendance-update")["inside"] == 2
    assert listener.none("capacity-alert")
    post("revenue", f.revenue(event_id, category="tickets", amount="999.00"))
    assert listener.next("revenue-update")["total"] == "999.00"
    assert listener.none("revenue-milestone")
    post("revenue", f.revenue(event_id, category="fees", amount="1.00"))
    assert listener.next("revenue-update")["total"] == "1000.00"
    milestone = listener.next("revenue-milestone")
    assert (milestone["threshold"], milestone["total"]) == ("1000.00", "1000.00")
    post("revenue", f.revenue(event_id, category="fees", amount="5.00"))
    assert listener.next("revenue-update")["total"] == "1005.00"
    assert listener.none("revenue-milestone")


def test_a_milestone_reached_and_left_within_one_commit_is_announced(
    api_server: ApiServer, keys: dict[str, str], listener: Listener
) -> None:
    """The push announced what the total was at its computation: net revenue that passed 1,000 and fell back below
    it with a refund in the same commit never announced that milestone, though the revenue view lists it reached."""
    api, key = api_server.url, keys["ingest"]
    event_id = _event(api, key)
    assert listener.subscribe(event_id)["ok"] is True
    sold_at = f.now() - timedelta(minutes=2)
    lines = [f.revenue(event_id, category="tickets", amount="1200.00", recorded_at=sold_at.isoformat()),
             f.revenue(event_id, category="refund", amount="-400.00")]  # fmt: skip
    assert httpx.post(f"{api}/api/ingest/revenue", json=lines, headers={"X-API-Key": key}).status_code == 200
    assert listener.next("revenue-update")["total"] == "800.00"
    milestone = listener.next("revenue-milestone")
    assert (milestone["threshold"], milestone["total"]) == ("1000.00", "800.00")
    view = httpx.get(f"{api}/api/realtime/revenue/{event_id}", headers={"X-API-Key": keys["read"]}).json()
    assert [m["threshold"] for m in view["milestones"]] == ["1000.00"]
    assert datetime.fromisoformat(view["milestones"][0]["reached_at"]) == sold_at

"""Browsers on another origin (a dashboard's) calling the real API: preflights answered without a key, and the
CORS header on every answer, the fast paths' included (they answer before Litestar)."""

from __future__ import annotations

import httpx

from tests import factories as f
from tests.support import ApiServer

ORIGIN = {"Origin": "https://dashboard.example"}


FAST_INGEST, FAST_VIEWS = "tickettoken_ingest_fast_total", "tickettoken_live_fast_answers_total"


def test_a_dashboard_on_another_origin_may_call_the_api(api_server: ApiServer, keys: dict[str, str]) -> None:
    with httpx.Client(base_url=api_server.url, timeout=30) as http:
        preflight = http.options(
            "/api/realtime/sales/any",
            headers={**ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-api-key"},
        )
        assert preflight.status_code == 204, preflight.text
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "x-api-key" in preflight.headers["access-control-allow-headers"]
        assert "POST" in preflight.headers["access-control-allow-methods"]

        venue = f.venue()
        event = f.event(venue["venue_id"])
        for stream, record in (("venue", venue), ("event", event), ("sale", f.sale(event["event_id"]))):
            api_server.ingest(keys["ingest"], stream, record)  # the sale puts the event in the worker's catalog
        fast_sales = api_server.metric(keys["admin"], FAST_INGEST)
        ingest = {**ORIGIN, "X-API-Key": keys["ingest"]}
        sale = http.post("/api/ingest/sale", json=f.sale(event["event_id"]), headers=ingest)
        assert sale.status_code == 200
        fast_views = api_server.metric(keys["admin"], FAST_VIEWS, view="sales")
        views = [
            http.get(f"/api/realtime/sales/{event['event_id']}", headers={**ORIGIN, "X-API-Key": keys["read"]})
            for _ in range(5)
        ]
        missing = http.get("/api/realtime/sales/no-such-event", headers={**ORIGIN, "X-API-Key": keys["read"]})
        keyless = http.get(f"/api/realtime/sales/{event['event_id']}", headers=ORIGIN)
        assert [r.status_code for r in [*views, missing, keyless]] == [200] * 5 + [404, 401]
        for answer in [sale, *views, missing, keyless]:
            assert answer.headers["access-control-allow-origin"] == "*", answer.request.url
            assert answer.headers["access-control-expose-headers"] == "retry-after"
        assert api_server.metric(keys["admin"], FAST_INGEST) == fast_sales + 1, "answered before routing"
        assert api_server.metric(keys["admin"], FAST_VIEWS, view="sales") >= fast_views + 1, "answered from memory"
        assert "access-control-allow-origin" not in http.get("/health").headers, "only for a browser's requests"

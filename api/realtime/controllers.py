"""GET /api/realtime/<view>/{event_id}: live aggregates of one event (a `read` key of its organizer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, NamedTuple

import msgspec
from litestar import MediaType, Request, Response, Router, get
from litestar.params import PathParameter, QueryParameter
from litestar.types import ExceptionHandlersMap

from api.auth.guards import require
from api.auth.keys import ApiKey, Scope
from api.openapi_document import KEYED, refusals
from api.realtime.cache import LiveCache
from api.realtime.schemas import AttendanceSnapshot, RevenueSnapshot, SalesSnapshot, SocialSnapshot
from api.realtime.services import (
    BadParameter,
    EventInfo,
    ForeignEvent,
    Frame,
    RealtimeService,
    UnknownEvent,
    frame,
)
from api.responses import detail_response

AnyRequest = Request[Any, Any, Any]
log = logging.getLogger("tickettoken.realtime")
EventId = Annotated[str, PathParameter(description="The event's id (as sent to /api/ingest/event).")]
At = Annotated[
    datetime | None,
    QueryParameter(
        description="The moment the figures are computed at (ISO 8601 with an offset, from 1970 to before 2200); "
        "default now."
    ),
]
Tz = Annotated[
    str | None,
    QueryParameter(description="IANA time zone for buckets and printed times (DST-aware); default the venue's."),
]
Window = Annotated[
    int,
    QueryParameter(description="Minutes the series covers, up to `at`: every bucket it meets, quiet ones as 0.",
                   ge=1, le=10080),
]  # fmt: skip
BucketMinutes = Annotated[int, QueryParameter(description="Minutes per bucket of the series.", ge=1, le=10080)]
DEFAULT_WINDOW_MINUTES = 60
DEFAULT_BUCKET_MINUTES = 1
VIEWS = ("sales", "attendance", "revenue", "social")
# A refresh of a view computed from at most this many rows runs on the event loop (`_refresh_when_due`).
LOOP_REFRESH_MAX_ROWS = 100_000
_COMMON = " 404: no such event. 403: the key is bound to another organizer. 400: a parameter out of range."


class Asked(NamedTuple):
    at: datetime | None
    tz: str | None
    window: int
    bucket: int


NOW = Asked(None, None, DEFAULT_WINDOW_MINUTES, DEFAULT_BUCKET_MINUTES)  # what a dashboard polls


@dataclass(frozen=True)
class LiveAnswers:
    """The live views' answers as JSON: the service computes them, the cache keeps them for a second."""

    service: RealtimeService
    cache: LiveCache

    def from_memory(self, view: str, event_id: str, key: ApiKey, asked: Asked) -> bytes | None:
        """The answer when this worker has both the event (for `key`) and the answer in memory, without
        blocking; the first such request of an answer's life schedules its refresh in the background. None
        otherwise. On the event loop."""
        known = self.service.cached_event(event_id, key)
        if known is None:
            return None
        cache_key, _ = _framed(view, event_id, known, asked)
        peeked = self.cache.peek(cache_key)
        if peeked is None:
            return None
        hit, due = peeked
        if due is not None:
            loop = asyncio.get_running_loop()  # its clock is the monotonic one the cache keeps its times in
            loop.call_later(max(0.0, due - loop.time()), self._refresh_when_due, view, event_id, key, asked, cache_key)
        return hit

    def _refresh_when_due(self, view: str, event_id: str, key: ApiKey, asked: Asked, cache_key: str) -> None:
        """`_refresh`, on the event loop itself when the view's rows are all in memory and not too many; else in a
        thread. A thread must take the interpreter lock from the busy loop and hand it back, and under the live
        benchmark's load the views answered up to a third more, at a lower p99, with their refreshes on the loop
        (docs/performance-log.md). From memory a refresh takes about half a millisecond up to 100,000 rows, but
        merging new rows into a million once took 100 ms: the largest events are left to a thread."""
        rows = self.service.rows_in_memory(view, event_id)
        if rows is None or rows > LOOP_REFRESH_MAX_ROWS:
            _in_background(self._refresh, view, event_id, key, asked, cache_key)
            return
        try:
            # The rows were in memory a moment ago; only another thread dropping them just now (rows past the
            # memory limit, a failed write) would make this read the table, correctly, on the loop.
            self._refresh(view, event_id, key, asked, cache_key)
        except Exception:  # a refresh that fails leaves the answer to expire and be recomputed
            log.exception("live: a refresh failed")

    def _refresh(self, view: str, event_id: str, key: ApiKey, asked: Asked, cache_key: str) -> None:
        """Recompute an answer as of now: its frame is taken again, the refresh coming up to most of a second after
        the request that scheduled it. Nothing is recomputed when the event has left this worker's memory or its
        zone changed (a new key: the old answer expires). Blocking."""

        def compute() -> msgspec.Struct | None:
            known = self.service.cached_event(event_id, key)
            if known is None:
                return None
            fresh_key, moment = _framed(view, event_id, known, asked)
            return self._compute(view, known, moment) if fresh_key == cache_key else None

        self.cache.refresh(cache_key, compute)

    def answer(self, view: str, event_id: str, key: ApiKey, asked: Asked) -> bytes:
        """The answer from the shared cache or computed (the event's check first). Blocking."""
        event = self.service.event(event_id, key)
        cache_key, moment = _framed(view, event_id, event, asked)
        return self.cache.answer(cache_key, lambda: self._compute(view, event, moment))

    def _compute(self, view: str, event: EventInfo, moment: Frame) -> msgspec.Struct:
        compute: Callable[[EventInfo, Frame], msgspec.Struct] = getattr(self.service, view)
        return compute(event, moment)


async def _live(request: AnyRequest, view: str, event_id: str, asked: Asked) -> Response[Any]:
    """The view's answer, its JSON as cached: from this worker's memory without a thread hop when it is there,
    else in a thread (the event's check, the shared cache, or the computation)."""
    live: LiveAnswers = request.app.state.live
    key: ApiKey = request.scope["api_key"]  # type: ignore[typeddict-item]
    hit = live.from_memory(view, event_id, key, asked)
    if hit is None:
        hit = await asyncio.to_thread(live.answer, view, event_id, key, asked)
    return Response(hit, media_type=MediaType.JSON)


def _framed(view: str, event_id: str, event: EventInfo, asked: Asked) -> tuple[str, Frame]:
    moment = frame(event, at=asked.at, tz=asked.tz, window=asked.window, bucket=asked.bucket)
    return _key(view, event_id, asked.at, moment), moment


_background: set[asyncio.Task[None]] = set()


def _in_background(work: Callable[..., None], *args: Any) -> None:
    """Run blocking `work` in a thread without waiting for it (its failure is logged, the answer stays)."""

    async def run() -> None:
        try:
            await asyncio.to_thread(work, *args)
        except Exception:  # a refresh that fails leaves the answer to expire and be recomputed
            log.exception("live: a background refresh failed")

    task = asyncio.create_task(run())
    _background.add(task)
    task.add_done_callback(_background.discard)


def _key(view: str, event_id: str, at: datetime | None, asked: Frame) -> str:
    """Answers for "now" are shared for a second; answers for a given moment too."""
    moment = at.isoformat() if at is not None else "now"
    return f"{view}|{event_id}|{moment}|{asked.zone.key}|{asked.window_minutes}|{asked.bucket_minutes}"


_REFUSALS = refusals(401, 403, 404)


@get("/sales/{event_id:str}", responses=_REFUSALS,
     operation_id="realtimeSales", summary="Live sales of an event",
     description="Tickets and gross, sell-through, by tier and channel, velocity, a series, the projected sell-out"
     " time at the last hour's pace (null when that pace would not sell out before the start), milestones reached."
     + _COMMON)  # fmt: skip
async def sales(
    request: AnyRequest,
    event_id: EventId,
    *,
    at: At = None,
    tz: Tz = None,
    window: Window = DEFAULT_WINDOW_MINUTES,
    bucket: BucketMinutes = DEFAULT_BUCKET_MINUTES,
) -> Response[SalesSnapshot]:
    """Live sales of one event."""
    return await _live(request, "sales", event_id, Asked(at, tz, window, bucket))


@get("/attendance/{event_id:str}", responses=_REFUSALS,
     operation_id="realtimeAttendance", summary="Live attendance of an event",
     description="Entries, exits, inside now (tickets whose latest scan is an entry), share of capacity and the"
     " capacity alert, entry rates, a series, per gate, scanned against sold (no-shows so far)." + _COMMON)  # fmt: skip
async def attendance(
    request: AnyRequest,
    event_id: EventId,
    *,
    at: At = None,
    tz: Tz = None,
    window: Window = DEFAULT_WINDOW_MINUTES,
    bucket: BucketMinutes = DEFAULT_BUCKET_MINUTES,
) -> Response[AttendanceSnapshot]:
    """Live attendance of one event."""
    return await _live(request, "attendance", event_id, Asked(at, tz, window, bucket))


@get("/revenue/{event_id:str}", responses=_REFUSALS,
     operation_id="realtimeRevenue", summary="Live revenue of an event",
     description="Cumulative revenue by category, refunds, the last hour's pace, a series of net amounts, and the"
     " total projected to the event's end (its start plus four hours) at that pace." + _COMMON)  # fmt: skip
async def revenue(
    request: AnyRequest,
    event_id: EventId,
    *,
    at: At = None,
    tz: Tz = None,
    window: Window = DEFAULT_WINDOW_MINUTES,
    bucket: BucketMinutes = DEFAULT_BUCKET_MINUTES,
) -> Response[RevenueSnapshot]:
    """Live revenue of one event."""
    return await _live(request, "revenue", event_id, Asked(at, tz, window, bucket))


@get("/social/{event_id:str}", responses=_REFUSALS,
     operation_id="realtimeSocial", summary="Live social activity of an event",
     description="Posts by platform and kind, reach, engagement, sentiment, a series, and a viral score: posts in the"
     " last 15 minutes against the event's own mean per quarter hour before them, since its first post (24 hours"
     " at most, an hour at least); trending from 3x and 10 posts."
     + _COMMON)  # fmt: skip
async def social(
    request: AnyRequest,
    event_id: EventId,
    *,
    at: At = None,
    tz: Tz = None,
    window: Window = DEFAULT_WINDOW_MINUTES,
    bucket: BucketMinutes = DEFAULT_BUCKET_MINUTES,
) -> Response[SocialSnapshot]:
    """Live social activity of one event."""
    return await _live(request, "social", event_id, Asked(at, tz, window, bucket))


def _unknown(_: AnyRequest, error: UnknownEvent) -> Response[dict[str, object]]:
    return detail_response(404, str(error))


def _foreign(_: AnyRequest, error: ForeignEvent) -> Response[dict[str, object]]:
    return detail_response(403, str(error))


def _bad(_: AnyRequest, error: BadParameter) -> Response[dict[str, object]]:
    return detail_response(400, f"invalid query parameter {error}")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {UnknownEvent: _unknown, ForeignEvent: _foreign, BadParameter: _bad}

realtime_router = Router(
    path="/api/realtime",
    tags=["realtime"],
    security=KEYED,
    middleware=[require(Scope.READ)],
    route_handlers=[sales, attendance, revenue, social],
    exception_handlers=EXCEPTION_HANDLERS,
)

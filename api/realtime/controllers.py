"""GET /api/realtime/<view>/{event_id}: live aggregates of one event (a `read` key of its organizer)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from litestar import Request, Response, Router, get
from litestar.params import PathParameter, QueryParameter
from litestar.types import ExceptionHandlersMap

from api.auth.guards import require
from api.auth.keys import ApiKey, Scope
from api.realtime.cache import LiveCache
from api.realtime.schemas import AttendanceSnapshot, RevenueSnapshot, SalesSnapshot, SocialSnapshot
from api.realtime.services import BadParameter, ForeignEvent, Frame, RealtimeService, UnknownEvent, frame

AnyRequest = Request[Any, Any, Any]
EventId = Annotated[str, PathParameter(description="The event's id (as sent to /api/ingest/event).")]
At = Annotated[
    datetime | None,
    QueryParameter(description="The moment the figures are computed at (ISO 8601 with an offset); default now."),
]
Tz = Annotated[
    str | None,
    QueryParameter(description="IANA time zone for buckets and printed times (DST-aware); default the venue's."),
]
Window = Annotated[int, QueryParameter(description="Minutes the series covers, up to `at`.", ge=1, le=10080)]
BucketMinutes = Annotated[int, QueryParameter(description="Minutes per bucket of the series.", ge=1, le=10080)]
_COMMON = " 404: no such event. 403: the key is bound to another organizer. 400: a parameter out of range."


def _context(request: AnyRequest) -> tuple[RealtimeService, LiveCache, ApiKey]:
    state = request.app.state
    return state.realtime, state.live_cache, request.scope["api_key"]  # type: ignore[typeddict-item]


def _key(view: str, event_id: str, at: datetime | None, asked: Frame) -> str:
    """Answers for "now" are shared for a second; answers for a given moment too."""
    moment = at.isoformat() if at is not None else "now"
    return f"{view}|{event_id}|{moment}|{asked.zone.key}|{asked.window_minutes}|{asked.bucket_minutes}"


@get("/sales/{event_id:str}", operation_id="realtimeSales", summary="Live sales of an event",
     description="Tickets and gross, sell-through, by tier and channel, velocity, a series, the projected sell-out"
     " time at the last hour's pace, milestones reached." + _COMMON)  # fmt: skip
async def sales(
    request: AnyRequest,
    event_id: EventId,
    *,
    at: At = None,
    tz: Tz = None,
    window: Window = 60,
    bucket: BucketMinutes = 1,
) -> SalesSnapshot:
    """Live sales of one event."""
    service, cache, key = _context(request)

    def answer() -> SalesSnapshot:
        event = service.event(event_id, key)
        asked = frame(event, at=at, tz=tz, window=window, bucket=bucket)
        return cache.answer(_key("sales", event_id, at, asked), SalesSnapshot, lambda: service.sales(event, asked))

    return await asyncio.to_thread(answer)


@get("/attendance/{event_id:str}", operation_id="realtimeAttendance", summary="Live attendance of an event",
     description="Entries, exits, inside now, share of capacity and the capacity alert, entry rates, a series,"
     " per gate, scanned against sold (no-shows so far)." + _COMMON)  # fmt: skip
async def attendance(
    request: AnyRequest,
    event_id: EventId,
    *,
    at: At = None,
    tz: Tz = None,
    window: Window = 60,
    bucket: BucketMinutes = 1,
) -> AttendanceSnapshot:
    """Live attendance of one event."""
    service, cache, key = _context(request)

    def answer() -> AttendanceSnapshot:
        event = service.event(event_id, key)
        asked = frame(event, at=at, tz=tz, window=window, bucket=bucket)
        return cache.answer(
            _key("attendance", event_id, at, asked), AttendanceSnapshot, lambda: service.attendance(event, asked)
        )

    return await asyncio.to_thread(answer)


@get("/revenue/{event_id:str}", operation_id="realtimeRevenue", summary="Live revenue of an event",
     description="Cumulative revenue by category, refunds, the last hour's pace, a series of net amounts, and the"
     " total projected to the event's end (its start plus four hours) at that pace." + _COMMON)  # fmt: skip
async def revenue(
    request: AnyRequest,
    event_id: EventId,
    *,
    at: At = None,
    tz: Tz = None,
    window: Window = 60,
    bucket: BucketMinutes = 1,
) -> RevenueSnapshot:
    """Live revenue of one event."""
    service, cache, key = _context(request)

    def answer() -> RevenueSnapshot:
        event = service.event(event_id, key)
        asked = frame(event, at=at, tz=tz, window=window, bucket=bucket)
        return cache.answer(
            _key("revenue", event_id, at, asked), RevenueSnapshot, lambda: service.revenue(event, asked)
        )

    return await asyncio.to_thread(answer)


@get("/social/{event_id:str}", operation_id="realtimeSocial", summary="Live social activity of an event",
     description="Posts by platform and kind, reach, engagement, sentiment, a series, and a viral score: posts in the"
     " last 15 minutes against the event's own rate over the 24 hours before (trending from 3x and 10 posts)."
     + _COMMON)  # fmt: skip
async def social(
    request: AnyRequest,
    event_id: EventId,
    *,
    at: At = None,
    tz: Tz = None,
    window: Window = 60,
    bucket: BucketMinutes = 1,
) -> SocialSnapshot:
    """Live social activity of one event."""
    service, cache, key = _context(request)

    def answer() -> SocialSnapshot:
        event = service.event(event_id, key)
        asked = frame(event, at=at, tz=tz, window=window, bucket=bucket)
        return cache.answer(_key("social", event_id, at, asked), SocialSnapshot, lambda: service.social(event, asked))

    return await asyncio.to_thread(answer)


def _detail(status: int, detail: str) -> Response[dict[str, object]]:
    return Response({"status_code": status, "detail": detail}, status_code=status)


def _unknown(_: AnyRequest, error: UnknownEvent) -> Response[dict[str, object]]:
    return _detail(404, str(error))


def _foreign(_: AnyRequest, error: ForeignEvent) -> Response[dict[str, object]]:
    return _detail(403, str(error))


def _bad(_: AnyRequest, error: BadParameter) -> Response[dict[str, object]]:
    return _detail(400, f"invalid query parameter {error}")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {UnknownEvent: _unknown, ForeignEvent: _foreign, BadParameter: _bad}

realtime_router = Router(
    path="/api/realtime",
    tags=["realtime"],
    guards=[require(Scope.READ)],
    route_handlers=[sales, attendance, revenue, social],
    exception_handlers=EXCEPTION_HANDLERS,
)

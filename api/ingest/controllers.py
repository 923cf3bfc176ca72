"""POST /api/ingest/<stream>: a JSON object, a JSON array, or NDJSON of the stream's records."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter, SkipValidation

from api.auth.guards import require
from api.auth.keys import ApiKey, Scope
from api.ingest.deps import provide_ingest
from api.ingest.schemas import IngestResult
from api.ingest.services import IngestService

AnyRequest = Request[Any, Any, Any]
# The service is ours, not input: Litestar must not try to validate (convert) it.
Ingest = NamedDependency[SkipValidation[IngestService]]
Partial = Annotated[
    bool,
    QueryParameter(
        name="partial",
        description="Write the valid records and quarantine the rest, instead of refusing the whole request.",
    ),
]
_BODY = (
    " Body: one JSON object, a JSON array, or NDJSON (`Content-Type: application/x-ndjson`), at most the"
    " configured size (413 beyond). 200: every record committed and visible, counted as accepted, duplicates"
    " (already stored) or rejected. 422: invalid records, listed (index, field, message; at most 100), and"
    " nothing written. 400: not JSON (with the byte position). 429/503: try again after Retry-After."
)


async def _ingest(request: AnyRequest, ingest: IngestService, stream: str, partial: bool) -> IngestResult:
    key: ApiKey = request.scope["api_key"]  # type: ignore[typeddict-item]
    body = await request.body()
    return await ingest.ingest(stream, body, request.headers.get("content-type", ""), key, partial=partial)


class IngestController(Controller):
    path = "/api/ingest"
    tags = ["ingest"]
    guards = [require(Scope.INGEST)]
    dependencies = {"ingest": Provide(provide_ingest, sync_to_thread=False)}

    @post("/sale", operation_id="ingestSales", status_code=200, description="Ticket sales." + _BODY)
    async def sale(
        self,
        request: AnyRequest,
        ingest: Ingest,
        partial: Partial = False,
    ) -> IngestResult:
        """Ingest ticket sales."""
        return await _ingest(request, ingest, "sale", partial)

    @post("/attendance", operation_id="ingestAttendance", status_code=200, description="Gate scans." + _BODY)
    async def attendance(
        self,
        request: AnyRequest,
        ingest: Ingest,
        partial: Partial = False,
    ) -> IngestResult:
        """Ingest gate scans (entries and exits)."""
        return await _ingest(request, ingest, "attendance", partial)

    @post("/revenue", operation_id="ingestRevenue", status_code=200, description="Revenue lines." + _BODY)
    async def revenue(
        self,
        request: AnyRequest,
        ingest: Ingest,
        partial: Partial = False,
    ) -> IngestResult:
        """Ingest revenue lines (refunds negative)."""
        return await _ingest(request, ingest, "revenue", partial)

    @post("/social", operation_id="ingestSocial", status_code=200, description="Social activity." + _BODY)
    async def social(
        self,
        request: AnyRequest,
        ingest: Ingest,
        partial: Partial = False,
    ) -> IngestResult:
        """Ingest social activity."""
        return await _ingest(request, ingest, "social", partial)

    @post("/event", operation_id="ingestEvents", status_code=200, description="Events (upserts)." + _BODY)
    async def event(
        self,
        request: AnyRequest,
        ingest: Ingest,
        partial: Partial = False,
    ) -> IngestResult:
        """Upsert events: the version with the latest updated_at wins."""
        return await _ingest(request, ingest, "event", partial)

    @post("/venue", operation_id="ingestVenues", status_code=200, description="Venues (upserts)." + _BODY)
    async def venue(
        self,
        request: AnyRequest,
        ingest: Ingest,
        partial: Partial = False,
    ) -> IngestResult:
        """Upsert venues (keys bound to an organizer cannot: venues are shared)."""
        return await _ingest(request, ingest, "venue", partial)

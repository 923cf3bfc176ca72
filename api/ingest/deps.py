"""Providers for the ingest area."""

from __future__ import annotations

from litestar.datastructures import State

from api.ingest.services import IngestService


def provide_ingest(state: State) -> IngestService:
    """The worker's ingest service (its writers hold the group-commit queues)."""
    service: IngestService = state.ingest
    return service

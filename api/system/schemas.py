"""Health and readiness payloads."""

from __future__ import annotations

import msgspec


class Health(msgspec.Struct, frozen=True):
    """The process is up."""

    status: str


class DependencyCheck(msgspec.Struct, frozen=True):
    """One dependency's state as seen from this worker."""

    name: str
    ok: bool
    latency_ms: float
    detail: str | None = None


class Readiness(msgspec.Struct, frozen=True):
    """Whether this worker can serve: the warehouse and, when configured, Redis answer."""

    ready: bool
    checks: list[DependencyCheck]

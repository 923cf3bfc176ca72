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
    required: bool = True  # False: serving goes on without it, in a lesser way


class Readiness(msgspec.Struct, frozen=True):
    """Whether this worker can serve (every required dependency answers), and whether it serves in a lesser way
    (one it can do without does not)."""

    ready: bool
    checks: list[DependencyCheck]
    degraded: bool = False

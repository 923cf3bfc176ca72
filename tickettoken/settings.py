"""Settings: one small dataclass per concern, read from `TICKETTOKEN_*` env vars with working defaults."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

EMBEDDED_CLICKHOUSE_URL = "http://127.0.0.1:8123"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"TICKETTOKEN_{name}", default)


class SettingsError(ValueError):
    """A TICKETTOKEN_* variable the service cannot use, said in one line naming it (the commands print it so)."""


def _env_int(name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    """An integer from `low` to `high` (inclusive; no upper bound when None)."""
    raw = _env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"TICKETTOKEN_{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise SettingsError(f"TICKETTOKEN_{name} must be {bounds}, got {value}")
    return value


def _env_ms_as_seconds(name: str, default: int) -> float:
    milliseconds = _env_int(name, default)
    return milliseconds / 1000


def _env_numbers(name: str, default: str, *, most: float | None = None) -> tuple[float, ...]:
    """Numbers above 0 (and at most `most`), separated by commas; sorted."""
    raw = _env(name, default)
    try:
        numbers = tuple(sorted(float(part) for part in raw.split(",") if part.strip()))
    except ValueError:
        raise SettingsError(f"TICKETTOKEN_{name} must be numbers separated by commas, got {raw!r}") from None
    if any(not 0 < n <= (most if most is not None else math.inf) for n in numbers):
        bounds = f"above 0 and at most {most:g}" if most is not None else "above 0"
        raise SettingsError(f"TICKETTOKEN_{name} must be numbers {bounds}, got {raw!r}")
    return numbers


def _env_redis_url(name: str) -> str | None:
    url = _env(name, "") or None
    if url is not None and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        shown = url.rpartition("@")[2]  # not the credentials a URL may carry
        raise SettingsError(f"TICKETTOKEN_{name} must be a redis://, rediss:// or unix:// URL, got {shown!r}")
    return url


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# On the embedded server's /ping answers (a ClickHouse server sends none): a command that finds a warehouse already
# answering at an embedded URL then checks that it is the one on its own data directory (api/embedded.py).
EMBEDDED_HEADER = "X-TicketToken-Warehouse"


@dataclass(frozen=True, slots=True)
class WarehouseSettings:
    """Where the warehouse is, who may use it, and how the embedded server behaves."""

    clickhouse_url: str
    data_dir: Path
    database: str
    user: str
    password: str
    analyst_user: str
    analyst_password: str
    analyst_max_execution_time: int
    analyst_max_memory_usage: int
    cluster: str | None
    pool_size: int
    max_sessions: int
    query_log: Path | None = None  # the embedded server's line per query: this file, else standard error

    @property
    def warehouse_dir(self) -> Path:
        """The chDB data directory the embedded server owns."""
        return self.data_dir / "warehouse"

    @property
    def backup_dir(self) -> Path:
        """Where the embedded warehouse writes `BACKUP ... TO File(name)` and reads `RESTORE ... FROM File(name)`:
        beside the engine's directory (`warehouse_dir`), not in it, so that moving that aside keeps the backups."""
        return self.data_dir / "backups"

    @property
    def is_embedded(self) -> bool:
        """True when the URL is plain HTTP on loopback (the embedded default is one such), which
        `tickettoken serve` starts itself when nothing answers there."""
        parts = urlsplit(self.clickhouse_url)
        return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS

    @property
    def host(self) -> str:
        return urlsplit(self.clickhouse_url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.clickhouse_url)
        return parts.port or (8443 if parts.scheme == "https" else 8123)

    @property
    def secure(self) -> bool:
        return urlsplit(self.clickhouse_url).scheme == "https"

    @property
    def address(self) -> str:
        """scheme://host:port, without the credentials a URL may carry: for messages."""
        return f"{'https' if self.secure else 'http'}://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """The Litestar API's listener."""

    host: str
    port: int
    workers: int
    max_body_bytes: int
    access_log: bool
    ws_compression: bool  # permessage-deflate on websockets (Socket.IO)
    cors_origins: tuple[str, ...] = ("*",)  # origins browsers may call from ("*": any; none: same origin only)
    warehouse_wait_seconds: float = 60.0  # at start, how long a warehouse that does not answer yet is waited for
    # How long an idle connection is kept open. Above the 60 s of load balancers' and proxies' pools (nginx, AWS
    # ALB) and clients' own (httpx 5 s, aiohttp 15 s), so that the client side closes first: uvicorn's 5 s closed
    # connections just as clients sent on them (a POST lost, or a 502 from the proxy).
    keep_alive_seconds: int = 75


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """Ingest limits: the time window records may carry, how many records may wait to be written, and how long
    single records may wait for company (api/ingest/writer.py, `_small_waits`)."""

    max_past_days: int
    max_future_hours: int
    catalog_max_future_days: int
    max_pending_records: int
    gather_seconds: float


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """Cache and pub/sub: in-process backends unless a Redis URL is set."""

    url: str | None


@dataclass(frozen=True, slots=True)
class PushSettings:
    """Socket.IO push: how often updates of one event may go out, and the milestones announced (each once)."""

    interval_seconds: float
    milestone_shares: tuple[float, ...]  # of capacity
    milestone_counts: tuple[float, ...]  # tickets
    revenue_milestones: tuple[float, ...]  # net revenue, in the event's currency


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """The live views' memory of watched events' rows (api/realtime/tallies.py)."""

    max_rows: int  # rows kept in all, past which the least recently used events are dropped
    reload_seconds: float  # an event's rows are read again after this long (rows written around the API)


@dataclass(frozen=True, slots=True)
class Settings:
    warehouse: WarehouseSettings
    api: ApiSettings
    redis: RedisSettings
    ingest: IngestSettings
    push: PushSettings
    live: LiveSettings


def load_settings() -> Settings:
    """Read the settings from the environment (uncached: tests and child processes use this)."""
    data_dir = Path(_env("DATA_DIR", "./data")).expanduser().resolve()
    warehouse = WarehouseSettings(
        clickhouse_url=_env("CLICKHOUSE_URL", EMBEDDED_CLICKHOUSE_URL),
        data_dir=data_dir,
        database=_env("CLICKHOUSE_DATABASE", "tickettoken"),
        user=_env("CLICKHOUSE_USER", "default"),
        password=_env("CLICKHOUSE_PASSWORD", ""),
        analyst_user=_env("ANALYST_USER", "analyst"),
        analyst_password=_env("ANALYST_PASSWORD", ""),
        analyst_max_execution_time=_env_int("ANALYST_MAX_EXECUTION_TIME", 60),
        analyst_max_memory_usage=_env_int("ANALYST_MAX_MEMORY_USAGE", 4 * 1024**3),
        cluster=_env("CLICKHOUSE_CLUSTER", "") or None,
        pool_size=_env_int("WAREHOUSE_POOL_SIZE", 16, low=1),
        max_sessions=_env_int("WAREHOUSE_MAX_SESSIONS", 256, low=1),
        query_log=Path(query_log) if (query_log := _env("WAREHOUSE_QUERY_LOG", "")) else None,
    )
    api = ApiSettings(
        host=_env("HOST", "127.0.0.1"),
        port=_env_int("PORT", 3009, low=1, high=65535),
        workers=_env_int("WORKERS", 1, low=1),
        max_body_bytes=_env_int("MAX_BODY_BYTES", 32 * 1024 * 1024, low=1),
        access_log=_env("ACCESS_LOG", "0") == "1",
        ws_compression=_env("WS_COMPRESSION", "0") == "1",
        cors_origins=tuple(origin.strip() for origin in _env("CORS_ORIGINS", "*").split(",") if origin.strip()),
        warehouse_wait_seconds=_env_int("WAREHOUSE_WAIT_SECONDS", 60),
        keep_alive_seconds=_env_int("KEEP_ALIVE_SECONDS", 75, low=1),
    )
    redis = RedisSettings(url=_env_redis_url("REDIS_URL"))
    ingest = IngestSettings(
        max_past_days=_env_int("INGEST_MAX_PAST_DAYS", 3650),
        max_future_hours=_env_int("INGEST_MAX_FUTURE_HOURS", 24),
        catalog_max_future_days=_env_int("INGEST_CATALOG_MAX_FUTURE_DAYS", 3 * 365),
        max_pending_records=_env_int("INGEST_MAX_PENDING_RECORDS", 200_000, low=1),
        gather_seconds=_env_ms_as_seconds("INGEST_GATHER_MS", 50),
    )
    push = PushSettings(
        interval_seconds=_env_ms_as_seconds("PUSH_INTERVAL_MS", 250),
        milestone_shares=_env_numbers("MILESTONE_SHARES", "0.25,0.5,0.75,0.9,1", most=1),
        milestone_counts=_env_numbers("MILESTONE_COUNTS", "100,500,1000,5000,10000,50000"),
        revenue_milestones=_env_numbers("REVENUE_MILESTONES", "1000,10000,100000,1000000"),
    )
    live = LiveSettings(
        max_rows=_env_int("LIVE_MAX_ROWS", 20_000_000, low=1),
        reload_seconds=_env_int("LIVE_RELOAD_SECONDS", 300, low=1),
    )
    return Settings(warehouse=warehouse, api=api, redis=redis, ingest=ingest, push=push, live=live)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()

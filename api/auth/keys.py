"""API keys: made, stored hashed, looked up, revoked. No HTTP here.

A key reads `tt_<key_id>_<secret>`. The key id is public (lists, logs); only a SHA-256 of the secret is
stored, and secrets are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from clickhouse_connect.driver.client import Client

from api.refresh_ahead import RefreshAhead

KEY_PREFIX = "tt"
CACHE_SECONDS = 5.0  # how long a worker trusts what it read: a revocation takes effect within this
# A key in use is read again in the background once its entry is this old (api/refresh_ahead.py), so that it
# does not expire under the requests in flight.
REFRESH_AFTER_SECONDS = 2.5


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    scopes: frozenset[Scope]
    organizer_id: str | None
    created_at: datetime
    revoked_at: datetime | None

    def allows(self, scope: Scope) -> bool:
        """Admin keys may do everything."""
        return scope in self.scopes or Scope.ADMIN in self.scopes

    def allows_organizer(self, organizer_id: str) -> bool:
        return self.organizer_id is None or self.organizer_id == organizer_id


class KeyRefused(Exception):
    """A key cannot be made or changed as asked."""


_INSERT_SQL = (
    "INSERT INTO api_keys (key_id, secret_hash, name, scopes, organizer_id, created_at, revoked_at, version) "
    "VALUES ({key_id:String}, {secret_hash:String}, {name:String}, {scopes:Array(String)}, {organizer_id:String}, "
    "{created_at:DateTime64(3, 'UTC')}, {revoked_at:Nullable(DateTime64(3, 'UTC'))}, {version:UInt64})"
)
_SELECT_SQL = (
    "SELECT key_id, secret_hash, name, scopes, organizer_id, created_at, revoked_at "
    "FROM api_keys FINAL WHERE key_id = {key_id:String}"
)
_LIST_SQL = (
    "SELECT key_id, secret_hash, name, scopes, organizer_id, created_at, revoked_at "
    "FROM api_keys FINAL ORDER BY created_at"
)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(presented: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    parts = presented.strip().split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


@dataclass
class KeyStore:
    """Keys in the warehouse's `api_keys` table, with a short per-worker cache."""

    client: Client
    _cache: dict[str, tuple[float, tuple[str, ApiKey] | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reading: threading.Lock = field(default_factory=threading.Lock)
    _refresh: RefreshAhead[str] = field(init=False)

    def __post_init__(self) -> None:
        self._refresh = RefreshAhead(self._read_again, "api-keys-refresh")

    def create(self, scopes: set[Scope], *, organizer_id: str | None = None, name: str = "") -> tuple[str, ApiKey]:
        """Make a key; returns the full key (shown once, never stored) and its record."""
        if not scopes:
            raise KeyRefused("a key needs at least one scope")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32).replace("_", "")
        now = datetime.now(UTC)
        record = ApiKey(key_id, name, frozenset(scopes), organizer_id or None, now, None)
        self._write(record, _hash(secret), version=1)
        return f"{KEY_PREFIX}_{key_id}_{secret}", record

    def revoke(self, key_id: str) -> ApiKey:
        found = self._read(key_id)
        if found is None:
            raise KeyRefused(f"no key with id {key_id}")
        secret_hash, record = found
        revoked = ApiKey(
            record.key_id, record.name, record.scopes, record.organizer_id, record.created_at, datetime.now(UTC)
        )
        self._write(revoked, secret_hash, version=time.time_ns())
        with self._lock:
            self._cache.pop(key_id, None)
        return revoked

    def list(self) -> list[ApiKey]:
        return [_record(row)[1] for row in self.client.query(_LIST_SQL).result_rows]

    def authenticate(self, presented: str) -> ApiKey | None:
        """The key's record when `presented` is a valid, unrevoked key; None otherwise (may query)."""
        parts = split_key(presented)
        if parts is None:
            return None
        found = self._cached(parts[0])
        return self._check(parts[1], found)

    def authenticate_cached(self, presented: str) -> ApiKey | bool | None:
        """As `authenticate` from the cache alone; True when the cache cannot tell (then call that)."""
        parts = split_key(presented)
        if parts is None:
            return None
        with self._lock:
            hit = self._cache.get(parts[0])
        if hit is None:
            return True
        age = time.monotonic() - hit[0]
        if age >= CACHE_SECONDS:
            return True
        if age >= REFRESH_AFTER_SECONDS and hit[1] is not None:
            self._refresh.request((parts[0],))
        return self._check(parts[1], hit[1])

    @staticmethod
    def _check(secret: str, found: tuple[str, ApiKey] | None) -> ApiKey | None:
        if found is None:
            hmac.compare_digest(_hash(secret), _hash("-"))  # same work either way: timing tells nothing
            return None
        secret_hash, record = found
        if not hmac.compare_digest(_hash(secret), secret_hash) or record.revoked_at is not None:
            return None
        return record

    def _cached(self, key_id: str) -> tuple[str, ApiKey] | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key_id)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        # When the entry expires every request in flight with that key gets here at once: one of them reads it.
        with self._reading:
            with self._lock:
                hit = self._cache.get(key_id)
            if hit is not None and now - hit[0] < CACHE_SECONDS:
                return hit[1]
            return self._read_and_keep(key_id)

    def _read_again(self, key_ids: Sequence[str]) -> None:
        """Refresh these cache entries (in the background: `authenticate_cached`)."""
        for key_id in key_ids:
            with self._reading:
                self._read_and_keep(key_id)

    def _read_and_keep(self, key_id: str) -> tuple[str, ApiKey] | None:
        """Read the key and cache what was found (the caller holds `_reading`)."""
        read_at = time.monotonic()  # before the read: an entry is never trusted for longer than CACHE_SECONDS
        found = self._read(key_id)
        with self._lock:
            if len(self._cache) > 10_000:  # many made-up key ids must not grow the cache without bound
                self._cache.clear()
            self._cache[key_id] = (read_at, found)
        return found

    def _read(self, key_id: str) -> tuple[str, ApiKey] | None:
        rows = self.client.query(_SELECT_SQL, parameters={"key_id": key_id}).result_rows
        return _record(rows[0]) if rows else None

    def _write(self, record: ApiKey, secret_hash: str, *, version: int) -> None:
        self.client.command(
            _INSERT_SQL,
            parameters={
                "key_id": record.key_id,
                "secret_hash": secret_hash,
                "name": record.name,
                "scopes": sorted(record.scopes),
                "organizer_id": record.organizer_id or "",
                "created_at": record.created_at,
                "revoked_at": record.revoked_at,
                "version": version,
            },
        )


def _record(row: Sequence[Any]) -> tuple[str, ApiKey]:
    key_id, secret_hash, name, scopes, organizer_id, created_at, revoked_at = row
    return str(secret_hash), ApiKey(
        key_id=str(key_id),
        name=str(name),
        scopes=frozenset(Scope(s) for s in scopes),
        organizer_id=str(organizer_id) or None,
        created_at=_utc(created_at),
        revoked_at=_utc(revoked_at) if isinstance(revoked_at, datetime) else None,
    )


def _utc(moment: datetime) -> datetime:
    """Stored in UTC; the client gives it back without a zone when the server's zone is UTC too."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

"""Ingest: decode, validate, check against the catalog and the key, then commit or quarantine. No HTTP here."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

from api.auth.keys import ApiKey
from api.ingest.catalog import Catalog, EventInfo, fact_currencies
from api.ingest.columnar import clean_facts
from api.ingest.decoding import (
    MAX_LISTED_ERRORS,
    Decoded,
    MalformedBody,
    decode_json,
    decode_ndjson,
    decode_table,
)
from api.ingest.encodings import unpacked
from api.ingest.media_types import ARROW, JSON, NDJSON, PARQUET, canonical_media_type
from api.ingest.rules import CHECKS, TimeWindow, utc_now
from api.ingest.schemas import IngestResult, RecordError
from api.ingest.seen import SeenIds
from api.ingest.streams import STREAMS, Stream
from api.ingest.table_body import UNPACKED_PER_BODY_BYTE, TableLimits, read_table
from api.ingest.table_rules import all_pass
from api.ingest.writer import CommittedBatch, SmallInsert, StreamWriter
from tickettoken.settings import IngestSettings

INLINE_DECODE_BYTES = 64 * 1024  # larger bodies are decoded in a worker thread, off the event loop
TABLE_CHECK_ROWS = 100  # facts from this many records on are checked on their table first (`table_rules.py`)
_QUARANTINE_COLUMNS = ["stream", "request_id", "record_index", "record", "reason"]
RELEASE_CHUNK = 50_000  # indexes per DELETE of replayed records: at most ~450 KB of URL


class InvalidRecords(Exception):
    """Some records broke the contract; without `partial`, nothing was written."""

    def __init__(self, result: IngestResult) -> None:
        super().__init__(f"{result.rejected} of {result.rejected + result.accepted} records are invalid")
        self.result = result


class ForeignOrganizer(Exception):
    """An organizer-bound key tried to write another organizer's events."""


@dataclass
class IngestService:
    client: Callable[[], Client]  # the worker's shared warehouse client, made on first use
    catalog: Catalog
    writers: dict[str, StreamWriter]
    window: TimeWindow
    max_body_bytes: int  # also the most a compressed body may unpack to
    # What an Arrow or Parquet body's table may hold: the records a stream's queue takes at once, and sixteen times
    # the body limit in memory.
    table_limits: TableLimits = field(init=False)

    def __post_init__(self) -> None:
        rows = next(iter(self.writers.values())).max_pending
        self.table_limits = TableLimits(rows=rows, bytes=UNPACKED_PER_BODY_BYTE * self.max_body_bytes)

    @classmethod
    def create(
        cls,
        client: Callable[[], Client],
        settings: IngestSettings,
        on_commit: Callable[[CommittedBatch], Awaitable[None]] | None = None,
        *,
        max_body_bytes: int,
        on_failure: Callable[[str, list[str]], None] | None = None,
        hears_every_commit: bool = True,
        insert_small: SmallInsert | None = None,
    ) -> IngestService:
        """`hears_every_commit`: this worker learns of every other worker's commits (one worker, or a shared
        bus), so its fact streams may trust their Bloom filters of stored identities (`seen.py`)."""
        window = TimeWindow(
            max_past=timedelta(days=settings.max_past_days),
            max_future_facts=timedelta(hours=settings.max_future_hours),
            max_future_catalog=timedelta(days=settings.catalog_max_future_days),
        )
        writers = {
            name: StreamWriter(
                stream,
                client,
                on_commit,
                on_failure,
                seen=SeenIds(stream.table, stream.id_field, client) if stream.is_fact and hears_every_commit else None,
                max_pending=settings.max_pending_records,
                gather_seconds=settings.gather_seconds,
                insert_small=insert_small,
            )
            for name, stream in STREAMS.items()
        }
        for writer in writers.values():
            if writer.seen is not None:
                writer.seen.start()  # in the background; should the warehouse not answer yet, again on first use
        return cls(client, Catalog(client), writers, window, max_body_bytes)

    async def ingest(
        self, stream_name: str, body: bytes, content_type: str, key: ApiKey, *, partial: bool, encoding: str = ""
    ) -> IngestResult:
        stream = STREAMS[stream_name]
        content_type = canonical_media_type(content_type)  # before anything is unpacked or read
        if encoding:  # in a thread: a small body may unpack to the limit
            body = await asyncio.to_thread(unpacked, body, encoding, self.max_body_bytes)
        if stream.is_fact and _is_columnar(content_type):
            fast = await asyncio.to_thread(self._clean_table, stream, body, content_type, key)
            if fast is not None:
                flags = await self.writers[stream.name].submit_table(fast)
                accepted = sum(flags)
                return IngestResult(accepted=accepted, duplicates=len(flags) - accepted, rejected=0)
        errors: list[RecordError] = []
        table: pa.Table | None = None
        if len(body) <= INLINE_DECODE_BYTES and not _is_columnar(content_type):
            decoded = _decode(stream, body, content_type, self.table_limits)
            if len(decoded.records) < TABLE_CHECK_ROWS and self._cache_suffices(stream, decoded):
                valid = self._validate(stream, decoded, key, errors)  # no warehouse query: not worth a thread hop
            else:
                valid, table = await asyncio.to_thread(self._checked, stream, decoded, key, errors, partial=partial)
        else:
            # One hop for all the work on a large body: every hop waits for a thread and for the interpreter lock.
            decoded, valid, table = await asyncio.to_thread(
                self._decoded_and_checked, stream, body, content_type, key, errors, partial=partial
            )
        rejected = {error.index for error in errors}
        if rejected and not partial:
            raise InvalidRecords(IngestResult(0, 0, len(rejected), _listed(errors)))
        writer = self.writers[stream.name]
        writer.check_size(table.num_rows if table is not None else len(valid))  # before anything is quarantined
        quarantine_id = None
        if rejected:
            # Quarantined before the valid ones are written: a failure after it loses nothing on a retry.
            quarantine_id = await asyncio.to_thread(self._quarantine, stream, decoded, errors)
        flags = await self._write(stream, valid, table)
        accepted = sum(flags)
        return IngestResult(
            accepted=accepted,
            duplicates=len(flags) - accepted,
            rejected=len(rejected),
            errors=_listed(errors),
            quarantined=len(rejected),
            quarantine_id=quarantine_id,
        )

    async def replay(self, quarantine_id: str, key: ApiKey) -> IngestResult | None:
        """Send the records quarantined under `quarantine_id` again, as `key` (say, once the events they named have
        arrived): those valid now are written, or found stored already, and leave the quarantine; the others stay
        there, listed by their index in the request that sent them. None when nothing is quarantined under it."""
        rows = await asyncio.to_thread(self._quarantined, quarantine_id)
        if not rows:
            return None
        stream = STREAMS[rows[0][0]]
        body = b"[" + b",".join(record.encode() for _, _, record in rows) + b"]"
        decoded = _decode(stream, body, JSON, self.table_limits)
        errors: list[RecordError] = []
        valid, table = await asyncio.to_thread(self._checked, stream, decoded, key, errors, partial=True)
        self.writers[stream.name].check_size(len(valid))
        flags = await self._write(stream, valid, table)
        sent_as = [index for _, index, _ in rows]  # the records' indexes in the request that sent them
        rejected = {error.index for error in errors}
        released = [sent_as[position] for position in range(len(rows)) if position not in rejected]
        await asyncio.to_thread(self._release, quarantine_id, released)  # once written: a failure loses nothing
        accepted = sum(flags)
        return IngestResult(
            accepted=accepted,
            duplicates=len(flags) - accepted,
            rejected=len(rejected),
            errors=_listed([RecordError(sent_as[e.index], e.field, e.message) for e in errors]),
            quarantined=len(rejected),
            quarantine_id=quarantine_id if rejected else None,
        )

    async def _write(self, stream: Stream, valid: list[tuple[int, Any]], table: pa.Table | None) -> list[bool]:
        """Commit the valid records (as their table when built already); a flag per record, True where new."""
        writer = self.writers[stream.name]
        flags = await (writer.submit_table(table) if table is not None else writer.submit([r for _, r in valid]))
        if stream.name == "event":
            self.catalog.forget_events(record.event_id for _, record in valid)
        return flags

    def _quarantined(self, quarantine_id: str) -> list[tuple[str, int, str]]:
        """(stream, index in the request that sent it, record as sent) of what is quarantined under the id."""
        rows = (
            self.client()
            .query(
                "SELECT stream, record_index, record FROM ingest_quarantine WHERE request_id = {id:String}"
                " ORDER BY record_index LIMIT 1 BY record_index",
                parameters={"id": quarantine_id},
            )
            .result_rows
        )
        return [(str(stream), int(index), str(record)) for stream, index, record in rows]

    def _release(self, quarantine_id: str, indexes: list[int]) -> None:
        release_quarantined(self.client(), quarantine_id, indexes)

    def clean_json(self, stream_name: str, body: bytes, key: ApiKey) -> list[Any] | None:
        """The records of a small JSON body of facts when every one is certainly valid and writable by `key`,
        judged from this worker's memory alone (each event, its tiers and currency, cached); else None, and `ingest`
        answers the request as ever, naming each problem. Does not block: for the fast path (fast_path.py)."""
        stream = STREAMS.get(stream_name)
        if stream is None or not stream.is_fact or len(body) > INLINE_DECODE_BYTES:
            return None
        errors: list[RecordError] = []
        try:
            decoded = decode_json(body, stream.record_type)
            if decoded.errors or not self._cache_suffices(stream, decoded):
                return None
            valid = self._validate(stream, decoded, key, errors)
        except (MalformedBody, ForeignOrganizer):
            return None
        return None if errors else [record for _, record in valid]

    def _cache_suffices(self, stream: Stream, decoded: Decoded[Any]) -> bool:
        """True when validating needs no warehouse query: every event is cached, and each record's tier and
        currency are its event's as cached."""
        if not stream.is_fact:
            return False
        cached = self.catalog.cached_events(record.event_id for _, record in decoded.records)
        if cached is None:
            return False
        return all(_fits(stream, r, cached[r.event_id]) for _, r in decoded.records)

    def _clean_table(self, stream: Stream, body: bytes, content_type: str, key: ApiKey) -> pa.Table | None:
        """A columnar body ready to write, when every row is certainly valid; else None
        (then the record path checks it and names each problem). Blocking."""
        clean = clean_facts(stream.name, read_table(body, content_type, self.table_limits), self.window, utc_now())
        return clean if clean is not None and self._writable(stream, clean, key) else None

    def _writable(self, stream: Stream, table: pa.Table, key: ApiKey) -> bool:
        """Whether the catalog and `key` allow every row of a fact table: its events known and the key's, a
        sale's tier one of its event's, money in its event's currency. Blocking."""
        wanted = pc.unique(table.column("event_id")).to_pylist()
        events = self.catalog.events(wanted)
        if len(events) != len(wanted) or not all(key.allows_organizer(e.organizer_id) for e in events.values()):
            return False
        for attempt in range(2):  # the second time with fresh events: their tiers or currency may have just changed
            if len(events) != len(wanted):
                return False
            tiers_known = stream.name != "sale" or _pairs_known(table, "tier", {e: i.tiers for e, i in events.items()})
            # An event whose currency is not fixed yet matches nothing here: the record path fixes it.
            currencies = {e: i.currencies for e, i in events.items()}
            if tiers_known and (not stream.priced or _pairs_known(table, "currency", currencies)):
                return True
            if attempt == 0:
                events = self.catalog.events(events, fresh=True)
        return False

    def _decoded_and_checked(
        self, stream: Stream, body: bytes, content_type: str, key: ApiKey, errors: list[RecordError], *, partial: bool
    ) -> tuple[Decoded[Any], list[tuple[int, Any]], pa.Table | None]:
        decoded = _decode(stream, body, content_type, self.table_limits)
        return decoded, *self._checked(stream, decoded, key, errors, partial=partial)

    def _checked(
        self, stream: Stream, decoded: Decoded[Any], key: ApiKey, errors: list[RecordError], *, partial: bool
    ) -> tuple[list[tuple[int, Any]], pa.Table | None]:
        """The valid records and, for facts that will be written, already as the table's columns (built here,
        in the request's own thread, rather than by the writer for the whole batch). Blocking."""
        if stream.is_fact and not decoded.errors and len(decoded.records) >= TABLE_CHECK_ROWS:
            table = self._certain_table(stream, decoded)
            if table is not None and self._writable(stream, table, key):
                return decoded.records, table
        valid = self._validate(stream, decoded, key, errors)
        writable = stream.is_fact and valid and (partial or not errors)
        return valid, stream.table_of([record for _, record in valid]) if writable else None

    def _certain_table(self, stream: Stream, decoded: Decoded[Any]) -> pa.Table | None:
        """The records as the table's columns when every one certainly passes `rules.py` (checked on the table,
        `table_rules.py`); else None, and each is checked on its own. Blocking."""
        try:
            table = stream.table_of([record for _, record in decoded.records])
        except pa.ArrowInvalid:  # money of more than 2 places, or not finite: the record checks name it
            return None
        return table if all_pass(stream.name, table, self.window, utc_now()) else None

    def _validate(
        self, stream: Stream, decoded: Decoded[Any], key: ApiKey, errors: list[RecordError]
    ) -> list[tuple[int, Any]]:
        """Records that pass every rule; the others' problems (decoding's too) are appended to `errors`.
        Blocking."""
        errors.extend(decoded.errors)
        now = utc_now()
        check = CHECKS[stream.record_type]
        passed: list[tuple[int, Any]] = []
        for index, record in decoded.records:
            problems = check(record, self.window, now)
            if problems:
                errors.extend(RecordError(index, name, message) for name, message in problems)
            else:
                passed.append((index, record))
        if stream.is_fact:
            return self._check_facts(stream, passed, key, errors)
        if stream.name == "event":
            return self._check_events(passed, key, errors)
        if key.organizer_id is not None:
            raise ForeignOrganizer("venues are shared by every organizer: an organizer-bound key cannot write them")
        return passed

    def _check_facts(
        self, stream: Stream, records: list[tuple[int, Any]], key: ApiKey, errors: list[RecordError]
    ) -> list[tuple[int, Any]]:
        events = self.catalog.events(record.event_id for _, record in records)
        unsure = {r.event_id for _, r in records if r.event_id in events and not _fits(stream, r, events[r.event_id])}
        if unsure:  # its tiers or currency may have just changed
            events.update(self.catalog.events(unsure, fresh=True))
        for event_id, event in events.items():  # per event, not per record: a batch has few events
            if not key.allows_organizer(event.organizer_id):
                raise ForeignOrganizer(f"event {event_id!r} belongs to another organizer")
        is_sale = stream.name == "sale"
        first_currency: dict[str, str] = {}  # events whose currency this request's first facts fix
        passed: list[tuple[int, Any]] = []
        for index, record in records:
            info = events.get(record.event_id)
            if info is None:
                errors.append(
                    RecordError(index, "event_id", f"unknown event {record.event_id!r}: send the event first")
                )
                continue
            if is_sale and record.tier not in info.tiers:
                known = ", ".join(sorted(info.tiers))
                errors.append(
                    RecordError(index, "tier", f"{record.tier!r} is not a tier of event {record.event_id!r} ({known})")
                )
                continue
            if stream.priced:
                currencies = info.currencies or {first_currency.setdefault(record.event_id, record.currency)}
                if record.currency not in currencies:
                    sold_in = ", ".join(sorted(currencies))
                    message = f"event {record.event_id!r} is sold in {sold_in}, not {record.currency}"
                    errors.append(RecordError(index, "currency", message))
                    continue
            passed.append((index, record))
        return passed

    def _check_events(
        self, records: list[tuple[int, Any]], key: ApiKey, errors: list[RecordError]
    ) -> list[tuple[int, Any]]:
        existing = self.catalog.events(record.event_id for _, record in records)
        venues = self.catalog.venues(record.venue_id for _, record in records)
        renamed = sorted({r.event_id for _, r in records if _renames_currency(r, existing.get(r.event_id))})
        stored = fact_currencies(self.client(), renamed)
        passed: list[tuple[int, Any]] = []
        for index, record in records:
            owner = existing.get(record.event_id)
            if not key.allows_organizer(record.organizer_id) or (
                owner is not None and not key.allows_organizer(owner.organizer_id)
            ):
                raise ForeignOrganizer(f"event {record.event_id!r} belongs to another organizer")
            if record.venue_id not in venues:
                errors.append(
                    RecordError(index, "venue_id", f"unknown venue {record.venue_id!r}: send the venue first")
                )
                continue
            others = stored.get(record.event_id, frozenset()) - {record.currency}
            if others and _renames_currency(record, owner):  # its money would be summed with money in another
                message = f"event {record.event_id!r} already has sales or revenue in {', '.join(sorted(others))}"
                errors.append(RecordError(index, "currency", message))
                continue
            passed.append((index, record))
        return passed

    def _quarantine(self, stream: Stream, decoded: Decoded[Any], errors: list[RecordError]) -> str:
        """Write the rejected records to the quarantine; returns the id they are found under there."""
        reasons: dict[int, list[str]] = {}
        for error in errors:
            reasons.setdefault(error.index, []).append(
                f"{error.field}: {error.message}" if error.field else error.message
            )
        request_id = str(uuid.uuid4())
        rows = [
            [stream.name, request_id, index, decoded.raw_of(index).decode("utf-8", "replace"), "; ".join(messages)]
            for index, messages in sorted(reasons.items())
        ]
        client: Client = self.client()
        client.insert("ingest_quarantine", rows, column_names=_QUARANTINE_COLUMNS)
        return request_id


def _decode(stream: Stream, body: bytes, content_type: str, limits: TableLimits) -> Decoded[Any]:
    if _is_columnar(content_type):
        return decode_table(read_table(body, content_type, limits), stream.record_type)
    decode = decode_ndjson if content_type == NDJSON else decode_json
    return decode(body, stream.record_type)


def release_quarantined(client: Client, quarantine_id: str, indexes: list[int]) -> None:
    """Take the records at `indexes` of a quarantined request out of the quarantine (they were written). A DELETE's
    parameters go in its URL, which ClickHouse takes up to 1 MiB, and a quarantine can hold a queue's worth of
    records (200,000 indexes are ~1.8 MB of URL): so RELEASE_CHUNK at a time."""
    for start in range(0, len(indexes), RELEASE_CHUNK):
        client.command(
            "DELETE FROM ingest_quarantine WHERE request_id = {id:String} AND record_index IN {at:Array(UInt32)}",
            parameters={"id": quarantine_id, "at": indexes[start : start + RELEASE_CHUNK]},
        )


def _is_columnar(content_type: str) -> bool:
    return content_type in (ARROW, PARQUET)


def _listed(errors: list[RecordError]) -> list[RecordError]:
    return sorted(errors, key=lambda e: (e.index, e.field))[:MAX_LISTED_ERRORS]


def publishable(batch: CommittedBatch) -> bytes:
    """A committed batch as the bus carries it: per event, how many records of which stream."""
    return msgspec.json.encode({"stream": batch.stream, "counts": batch.counts})


def _renames_currency(record: Any, stored: EventInfo | None) -> bool:
    """Whether an event record names another currency than the stored version of its event (a legacy event's
    facts in several currencies must not block updates that leave its currency alone)."""
    return bool(record.currency) and stored is not None and record.currency != stored.own_currency


def _fits(stream: Stream, record: Any, event: EventInfo) -> bool:
    """Whether a fact's tier (sales) and currency (sales, revenue) are certainly its event's, as `event` has them.
    Not for money of an event whose currency was not fixed when it was read: its first facts may have been
    stored since (then it is read again)."""
    if stream.name == "sale" and record.tier not in event.tiers:
        return False
    return not stream.priced or record.currency in event.currencies


def _pairs_known(table: pa.Table, column: str, allowed: dict[str, frozenset[str]]) -> bool:
    """Whether every row's (event_id, `column`) is among each event's `allowed` values (`allowed` has every
    event of the table)."""
    # A table holds few distinct values, usually ones each of its events allows (one currency, the common tiers):
    # then those settle it, without pairing every row with its event (100,000 sales of 100 events: 0.9 against
    # 3.4 ms); and for a table of one event they always do.
    everywhere = frozenset.intersection(*allowed.values()) if allowed else frozenset()
    if set(pc.unique(table.column(column)).to_pylist()) <= everywhere:
        return True
    if len(allowed) == 1:
        return False
    pairs = pc.binary_join_element_wise(table.column("event_id"), table.column(column), "\x1f")
    known = pa.array([f"{e}\x1f{value}" for e, values in allowed.items() for value in values], pa.string())
    return bool(pc.all(pc.is_in(pairs, value_set=known)).as_py())

"""The six ingest streams: their record type, table, identity and the columns a record becomes.

Rows go to the warehouse as Arrow: strings, integers and timestamps map directly (pyarrow turns a time of any
offset into UTC itself: converting each in Python first cost a sixth of a batch's columns); money goes as Arrow
decimals of the column's own type, parsed by Arrow from each Decimal's text (pyarrow's conversion straight
from Python Decimal objects is some 40x slower than the rest of the row), so the engine stores them as they
come instead of parsing text per row. Tier prices, nested in the catalog's events, go as text (a few per event).

A sale's buyer is optional, and most sales come without one. A table of sales none of which has a buyer leaves the
buyer's columns out, and the warehouse fills in its column defaults, the values the record would have written (""
and NULL): sending them cost the engine a sixth more CPU for a 100,000-sale Arrow body (95 against 81 ms, medians
of six interleaved rounds straight into the warehouse server), and the API the making and sending of eight columns.
Tables of one batch that differ in this are completed before they are joined (`Stream.complete`), and so is
every small batch, whose INSERT must match the one sent ahead of it (`api/early_insert.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from api.ingest.schemas import Attendance, Event, Record, Revenue, Sale, Social, Venue

TIMESTAMP = pa.timestamp("ms", tz="UTC")
PRICE = pa.decimal128(12, 2)  # sales.unit_price
AMOUNT = pa.decimal128(14, 2)  # revenue.amount
UNVERSIONED = "unversioned-"  # the scope of a catalog row sent without `updated_at`: versioned by its arrival


def _decimals(values: Iterable[Decimal], decimal_type: pa.DataType) -> pa.Array:
    """Validated amounts (at most 2 places, within the column's range) as the column's decimal type, exactly."""
    return pa.array([str(value) for value in values], pa.string()).cast(decimal_type)


# The buyer's columns and the warehouse's defaults for them (migrations/0003_facts.sql).
BUYER_DEFAULTS: dict[str, pa.Scalar] = {
    "buyer_birth_year": pa.scalar(None, pa.uint16()),
    "buyer_gender": pa.scalar("", pa.string()),
    "buyer_postal_code": pa.scalar("", pa.string()),
    "buyer_city": pa.scalar("", pa.string()),
    "buyer_region": pa.scalar("", pa.string()),
    "buyer_country": pa.scalar("", pa.string()),
    "buyer_lat": pa.scalar(None, pa.float64()),
    "buyer_lon": pa.scalar(None, pa.float64()),
}


def _sale_columns(rows: Sequence[Any]) -> dict[str, pa.Array]:
    columns = {
        "sale_id": pa.array([r.sale_id for r in rows], pa.string()),
        "event_id": pa.array([r.event_id for r in rows], pa.string()),
        "customer_id": pa.array([r.customer_id for r in rows], pa.string()),
        "purchased_at": pa.array([r.purchased_at for r in rows], TIMESTAMP),
        "tier": pa.array([r.tier for r in rows], pa.string()),
        "quantity": pa.array([r.quantity for r in rows], pa.uint16()),
        "unit_price": _decimals((r.unit_price for r in rows), PRICE),
        "currency": pa.array([r.currency for r in rows], pa.string()),
        "channel": pa.array([r.channel.value for r in rows], pa.string()),
        "promo_code": pa.array([r.promo_code or "" for r in rows], pa.string()),
    }
    buyers = [r.buyer for r in rows]
    if all(buyer is None for buyer in buyers):
        return columns
    return {
        **columns,
        "buyer_birth_year": pa.array([b.birth_year if b else None for b in buyers], pa.uint16()),
        "buyer_gender": pa.array([(b.gender or "") if b else "" for b in buyers], pa.string()),
        "buyer_postal_code": pa.array([(b.postal_code or "") if b else "" for b in buyers], pa.string()),
        "buyer_city": pa.array([(b.city or "") if b else "" for b in buyers], pa.string()),
        "buyer_region": pa.array([(b.region or "") if b else "" for b in buyers], pa.string()),
        "buyer_country": pa.array([(b.country or "") if b else "" for b in buyers], pa.string()),
        "buyer_lat": pa.array([b.lat if b else None for b in buyers], pa.float64()),
        "buyer_lon": pa.array([b.lon if b else None for b in buyers], pa.float64()),
    }


def _scan_columns(rows: Sequence[Any]) -> dict[str, pa.Array]:
    return {
        "scan_id": pa.array([r.scan_id for r in rows], pa.string()),
        "event_id": pa.array([r.event_id for r in rows], pa.string()),
        "ticket_id": pa.array([r.ticket_id for r in rows], pa.string()),
        "gate": pa.array([r.gate for r in rows], pa.string()),
        "direction": pa.array([r.direction.value for r in rows], pa.string()),
        "scanned_at": pa.array([r.scanned_at for r in rows], TIMESTAMP),
    }


def _revenue_columns(rows: Sequence[Any]) -> dict[str, pa.Array]:
    return {
        "revenue_id": pa.array([r.revenue_id for r in rows], pa.string()),
        "event_id": pa.array([r.event_id for r in rows], pa.string()),
        "category": pa.array([r.category.value for r in rows], pa.string()),
        "amount": _decimals((r.amount for r in rows), AMOUNT),
        "currency": pa.array([r.currency for r in rows], pa.string()),
        "recorded_at": pa.array([r.recorded_at for r in rows], TIMESTAMP),
    }


def _social_columns(rows: Sequence[Any]) -> dict[str, pa.Array]:
    return {
        "post_id": pa.array([r.post_id for r in rows], pa.string()),
        "event_id": pa.array([r.event_id for r in rows], pa.string()),
        "platform": pa.array([r.platform.value for r in rows], pa.string()),
        "kind": pa.array([r.kind.value for r in rows], pa.string()),
        "posted_at": pa.array([r.posted_at for r in rows], TIMESTAMP),
        "reach": pa.array([r.reach for r in rows], pa.uint64()),
        "engagement": pa.array([r.engagement for r in rows], pa.uint64()),
        "sentiment": pa.array([r.sentiment for r in rows], pa.float32()),
        "author_followers": pa.array([r.author_followers for r in rows], pa.uint64()),
    }


_TIERS = pa.list_(pa.struct([("name", pa.string()), ("price", pa.string()), ("capacity", pa.uint32())]))


def _event_columns(rows: Sequence[Any]) -> dict[str, pa.Array]:
    return {
        "event_id": pa.array([r.event_id for r in rows], pa.string()),
        "organizer_id": pa.array([r.organizer_id for r in rows], pa.string()),
        "name": pa.array([r.name for r in rows], pa.string()),
        "artist": pa.array([r.artist for r in rows], pa.string()),
        "genre": pa.array([r.genre for r in rows], pa.string()),
        "venue_id": pa.array([r.venue_id for r in rows], pa.string()),
        "starts_at": pa.array([r.starts_at for r in rows], TIMESTAMP),
        "on_sale_at": pa.array([r.on_sale_at for r in rows], TIMESTAMP),
        "capacity": pa.array([r.capacity for r in rows], pa.uint32()),
        "currency": pa.array([r.currency or "" for r in rows], pa.string()),
        "tiers": pa.array(
            [[{"name": t.name, "price": str(t.price), "capacity": t.capacity} for t in r.tiers] for r in rows], _TIERS
        ),
        "status": pa.array([r.status.value for r in rows], pa.string()),
        "updated_at": pa.array([r.updated_at for r in rows], TIMESTAMP),
    }


def _venue_columns(rows: Sequence[Any]) -> dict[str, pa.Array]:
    now = datetime.now(UTC)
    return {
        "venue_id": pa.array([r.venue_id for r in rows], pa.string()),
        "name": pa.array([r.name for r in rows], pa.string()),
        "city": pa.array([r.city for r in rows], pa.string()),
        "region": pa.array([r.region for r in rows], pa.string()),
        "country": pa.array([r.country for r in rows], pa.string()),
        "lat": pa.array([r.lat for r in rows], pa.float64()),
        "lon": pa.array([r.lon for r in rows], pa.float64()),
        "capacity": pa.array([r.capacity for r in rows], pa.uint32()),
        "timezone": pa.array([r.timezone for r in rows], pa.string()),
        "updated_at": pa.array([r.updated_at or now for r in rows], TIMESTAMP),
    }


@dataclass(frozen=True, slots=True)
class Stream:
    """One ingest stream. Facts are identified by their id within their event; the catalog (events, venues)
    by id and version (`updated_at`), since a later version of a record is news, not a duplicate."""

    name: str
    record_type: type[Record]
    table: str
    id_field: str
    columns: Callable[[Sequence[Any]], dict[str, pa.Array]]
    is_fact: bool
    # Columns a table leaves out when no row has a value for them, each with the warehouse's default; always last.
    defaults: Mapping[str, pa.Scalar] = field(default_factory=dict)

    @property
    def priced(self) -> bool:
        """Facts that carry money (sales, revenue lines): in their event's one currency."""
        return self.is_fact and "currency" in self.record_type.__struct_fields__

    def identity(self, record: Any) -> tuple[str, str]:
        """(scope, id): facts are scoped by their event, catalog rows by their version."""
        if self.is_fact:
            return record.event_id, getattr(record, self.id_field)
        if record.updated_at is None:  # versioned by its arrival (venues may omit updated_at): never a copy
            return f"{UNVERSIONED}{id(record)}", getattr(record, self.id_field)
        return record.updated_at.astimezone(UTC).isoformat(timespec="milliseconds"), getattr(record, self.id_field)

    def table_of(self, rows: Sequence[Any]) -> pa.Table:
        return pa.table(self.columns(rows))

    def complete(self, table: pa.Table) -> pa.Table:
        """`table` with the columns it left out (`defaults`) filled in, as the warehouse would fill them."""
        present = set(table.column_names)
        for name, default in self.defaults.items():
            if name not in present:
                table = table.append_column(name, pa.repeat(default, table.num_rows))
        return table


STREAMS: dict[str, Stream] = {
    stream.name: stream
    for stream in (
        Stream("sale", Sale, "sales", "sale_id", _sale_columns, is_fact=True, defaults=BUYER_DEFAULTS),
        Stream("attendance", Attendance, "scans", "scan_id", _scan_columns, is_fact=True),
        Stream("revenue", Revenue, "revenue", "revenue_id", _revenue_columns, is_fact=True),
        Stream("social", Social, "social", "post_id", _social_columns, is_fact=True),
        Stream("event", Event, "events", "event_id", _event_columns, is_fact=False),
        Stream("venue", Venue, "venues", "venue_id", _venue_columns, is_fact=False),
    )
}

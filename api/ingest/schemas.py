"""What the platform sends (the ingest contract of ARCHITECTURE.md) and what ingest answers.

Types and bounds msgspec can check live here; rules that need more (Decimal places, ISO codes, time
windows, the catalog) are in `rules.py`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import msgspec

ID_MAX_LENGTH = 128
Id = Annotated[
    str, msgspec.Meta(min_length=1, max_length=ID_MAX_LENGTH, description="Chosen by the platform, often a UUID.")
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
Short = Annotated[str, msgspec.Meta(max_length=128)]
Time = Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339 with an offset; stored as UTC.")]
Money = Annotated[Decimal, msgspec.Meta(description="JSON number or string, at most 2 decimal places.")]
Currency = Annotated[str, msgspec.Meta(min_length=3, max_length=3, description="ISO 4217, e.g. EUR.")]
Country = Annotated[str, msgspec.Meta(min_length=2, max_length=2, description="ISO 3166-1 alpha-2, e.g. DE.")]
# An event's sales and revenue lines are all in one currency (summed in the views and marts): its own when named.
EventCurrency = Annotated[
    Currency,
    msgspec.Meta(
        description="ISO 4217: its sales and revenue lines must be in it. Unset, its first stored facts fix it; "
        "it cannot change once facts are stored in another."
    ),
]
FactCurrency = Annotated[Currency, msgspec.Meta(description="ISO 4217: its event's currency.")]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
# At most what Arrow bodies' int64 columns hold; beyond 2**64 a count overflowed on its way to the UInt64 column.
Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Capacity = Annotated[int, msgspec.Meta(ge=1, le=10_000_000)]
# Optional text: absent, null or "" all mean none, stored as "". Null is how pandas, polars and many JSON encoders
# write a missing value: refusing it refused whole Parquet backfills whose buyers lacked, say, a gender.
OPTIONAL_TEXT = "Absent, null or empty: none."
PromoCode = Annotated[str, msgspec.Meta(max_length=64, description=OPTIONAL_TEXT)] | None
BuyerCode = Annotated[str, msgspec.Meta(max_length=32, description=OPTIONAL_TEXT)] | None
BuyerPlace = Annotated[str, msgspec.Meta(max_length=128, description=OPTIONAL_TEXT)] | None


class Channel(StrEnum):
    WEB = "web"
    APP = "app"
    BOX_OFFICE = "box_office"
    PARTNER = "partner"
    RESALE = "resale"


class Direction(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"


class RevenueCategory(StrEnum):
    TICKETS = "tickets"
    FEES = "fees"
    MERCHANDISE = "merchandise"
    FOOD_BEVERAGE = "food_beverage"
    PARKING = "parking"
    SPONSORSHIP = "sponsorship"
    REFUND = "refund"


class Platform(StrEnum):
    X = "x"
    INSTAGRAM = "instagram"
    TIKTOK = "tiktok"
    FACEBOOK = "facebook"
    YOUTUBE = "youtube"
    REDDIT = "reddit"
    OTHER = "other"


class SocialKind(StrEnum):
    POST = "post"
    MENTION = "mention"
    SHARE = "share"
    LIKE = "like"
    COMMENT = "comment"


class EventStatus(StrEnum):
    SCHEDULED = "scheduled"
    POSTPONED = "postponed"
    CANCELLED = "cancelled"


class Record(msgspec.Struct, forbid_unknown_fields=False, kw_only=True):
    """Base of every ingested record: unknown extra fields are ignored (more optional fields welcome)."""


class Venue(Record):
    venue_id: Id
    name: Name
    city: Name
    region: Short
    country: Country
    lat: Latitude
    lon: Longitude
    capacity: Capacity
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="IANA name.")]
    updated_at: Time | None = None


class Tier(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    price: Money
    capacity: Capacity


# It names the event in the live endpoints' paths (api/ingest/rules.py, `path_segment`).
EventId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=ID_MAX_LENGTH,
        description="Chosen by the platform, often a UUID. One URL path segment: no '/' or control characters, and"
        " not '.' or '..'.",
    ),
]


class Event(Record):
    event_id: EventId
    organizer_id: Id
    name: Name
    artist: Name
    genre: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    venue_id: Id
    starts_at: Time
    on_sale_at: Time
    capacity: Capacity
    tiers: Annotated[list[Tier], msgspec.Meta(min_length=1, max_length=64)]
    status: EventStatus
    updated_at: Time
    currency: EventCurrency | None = None


class Buyer(msgspec.Struct, kw_only=True):
    birth_year: Annotated[int, msgspec.Meta(ge=1900, le=2100)] | None = None
    gender: BuyerCode = None
    postal_code: BuyerCode = None
    city: BuyerPlace = None
    region: BuyerPlace = None
    country: Country | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None


class Sale(Record):
    sale_id: Id
    event_id: Id
    customer_id: Id
    purchased_at: Time
    tier: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    unit_price: Money
    currency: FactCurrency
    channel: Channel
    promo_code: PromoCode = None
    buyer: Buyer | None = None


class Attendance(Record):
    scan_id: Id
    event_id: Id
    ticket_id: Id
    gate: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    direction: Direction
    scanned_at: Time


class Revenue(Record):
    revenue_id: Id
    event_id: Id
    category: RevenueCategory
    amount: Money
    currency: FactCurrency
    recorded_at: Time


class Social(Record):
    post_id: Id
    event_id: Id
    platform: Platform
    kind: SocialKind
    posted_at: Time
    reach: Count
    engagement: Count
    sentiment: Annotated[float, msgspec.Meta(ge=-1, le=1)] | None = None
    author_followers: Count | None = None


class RecordError(msgspec.Struct, frozen=True):
    """One problem with one record."""

    index: int = msgspec.field(name="index")
    field: str
    message: str


class IngestResult(msgspec.Struct, frozen=True):
    """How a request went: every record is accepted, a duplicate of one already stored, or rejected."""

    accepted: int
    duplicates: int
    rejected: int
    errors: list[RecordError] = msgspec.field(default_factory=list)
    quarantined: int = 0
    quarantine_id: Annotated[
        str | None,
        msgspec.Meta(
            description="With quarantined records: their `request_id` in `tickettoken.ingest_quarantine`, to find"
            " them there (each with its record index, the record as sent and the reason)."
        ),
    ] = None


class IngestRejected(msgspec.Struct, frozen=True):
    """A request refused whole: nothing of it was written."""

    status_code: int
    detail: str
    accepted: int
    duplicates: int
    rejected: int
    errors: list[RecordError]

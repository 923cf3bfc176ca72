"""The live queries, one constant each, with server-side parameters. Every fact query reads `FINAL`, so a
record's copies (not yet merged) count once; each reads one event, the tables' primary-key prefix."""

# The event (latest version) with its venue's time zone.
EVENT = (
    "SELECT e.event_id, e.organizer_id, e.capacity, e.currency, e.tiers.name, e.tiers.capacity, v.timezone, "
    "toUnixTimestamp64Milli(e.starts_at) "
    "FROM (SELECT * FROM events FINAL WHERE event_id = {event_id:String}) AS e "
    "LEFT JOIN (SELECT venue_id, timezone FROM venues FINAL) AS v ON v.venue_id = e.venue_id"
)

# Per tier and channel, up to `at`: tickets, gross, sales, and tickets in the last 1/5/15/60 minutes.
SALES_TOTALS = (
    "SELECT tier, channel, sum(quantity), sum(quantity * unit_price), count(), "
    "sumIf(quantity, purchased_at > {at:DateTime64(3, 'UTC')} - INTERVAL 1 MINUTE), "
    "sumIf(quantity, purchased_at > {at:DateTime64(3, 'UTC')} - INTERVAL 5 MINUTE), "
    "sumIf(quantity, purchased_at > {at:DateTime64(3, 'UTC')} - INTERVAL 15 MINUTE), "
    "sumIf(quantity, purchased_at > {at:DateTime64(3, 'UTC')} - INTERVAL 60 MINUTE) "
    "FROM sales FINAL WHERE event_id = {event_id:String} AND purchased_at <= {at:DateTime64(3, 'UTC')} "
    "GROUP BY tier, channel"
)

# Tickets per time bucket over a window. Buckets of whole hours or days are aligned in the requested zone
# (so they follow its DST and half-hour offsets); the unit (MINUTE, HOUR or DAY) comes from `bucket_unit`.
_BUCKET = (
    "toUnixTimestamp(toDateTime(toStartOfInterval({column}, INTERVAL {{count:UInt32}} {unit}, {{tz:String}}), "
    "{{tz:String}}))"
)
SALES_SERIES = (
    "SELECT {bucket} AS bucket, sum(quantity) FROM sales FINAL WHERE event_id = {{event_id:String}} "
    "AND purchased_at > {{start:DateTime64(3, 'UTC')}} AND purchased_at <= {{at:DateTime64(3, 'UTC')}} "
    "GROUP BY bucket ORDER BY bucket"
)

# When the running total of tickets first reached each threshold.
SALES_MILESTONES = (
    "SELECT threshold, toUnixTimestamp64Milli(min(purchased_at)) FROM ("
    " SELECT purchased_at, sum(quantity) OVER (ORDER BY purchased_at, sale_id ROWS UNBOUNDED PRECEDING) AS running"
    " FROM sales FINAL WHERE event_id = {event_id:String} AND purchased_at <= {at:DateTime64(3, 'UTC')}"
    ") ARRAY JOIN {thresholds:Array(UInt64)} AS threshold WHERE running >= threshold GROUP BY threshold"
)

# Per gate and direction, up to `at`: scans, distinct tickets, and entries in the last 1/5/15/60 minutes.
SCAN_TOTALS = (
    "SELECT gate, direction, count(), uniqExact(ticket_id), "
    "countIf(scanned_at > {at:DateTime64(3, 'UTC')} - INTERVAL 1 MINUTE), "
    "countIf(scanned_at > {at:DateTime64(3, 'UTC')} - INTERVAL 5 MINUTE), "
    "countIf(scanned_at > {at:DateTime64(3, 'UTC')} - INTERVAL 15 MINUTE), "
    "countIf(scanned_at > {at:DateTime64(3, 'UTC')} - INTERVAL 60 MINUTE) "
    "FROM scans FINAL WHERE event_id = {event_id:String} AND scanned_at <= {at:DateTime64(3, 'UTC')} "
    "GROUP BY gate, direction"
)

SCAN_ATTENDEES = (
    "SELECT uniqExact(ticket_id) FROM scans FINAL WHERE event_id = {event_id:String} "
    "AND direction = 'entry' AND scanned_at <= {at:DateTime64(3, 'UTC')}"
)

SCAN_SERIES = (
    "SELECT {bucket} AS bucket, count() FROM scans FINAL WHERE event_id = {{event_id:String}} "
    "AND direction = 'entry' AND scanned_at > {{start:DateTime64(3, 'UTC')}} "
    "AND scanned_at <= {{at:DateTime64(3, 'UTC')}} GROUP BY bucket ORDER BY bucket"
)

TICKETS_SOLD = (
    "SELECT sum(quantity) FROM sales FINAL "
    "WHERE event_id = {event_id:String} AND purchased_at <= {at:DateTime64(3, 'UTC')}"
)

# Per category, up to `at`: amount, lines, and the amount of the last 60 minutes.
REVENUE_TOTALS = (
    "SELECT category, sum(amount), count(), "
    "sumIf(amount, recorded_at > {at:DateTime64(3, 'UTC')} - INTERVAL 60 MINUTE) "
    "FROM revenue FINAL WHERE event_id = {event_id:String} AND recorded_at <= {at:DateTime64(3, 'UTC')} "
    "GROUP BY category"
)

REVENUE_SERIES = (
    "SELECT {bucket} AS bucket, sum(amount) FROM revenue FINAL WHERE event_id = {{event_id:String}} "
    "AND recorded_at > {{start:DateTime64(3, 'UTC')}} AND recorded_at <= {{at:DateTime64(3, 'UTC')}} "
    "GROUP BY bucket ORDER BY bucket"
)

# Per platform and kind, up to `at`: posts, reach, engagement, sentiment (sum and count of scored posts), posts
# in the last 15 minutes and in the 24 hours before those (the event's own baseline).
SOCIAL_TOTALS = (
    "SELECT platform, kind, count(), sum(reach), sum(engagement), sum(assumeNotNull(sentiment)), count(sentiment), "
    "countIf(posted_at > {at:DateTime64(3, 'UTC')} - INTERVAL 15 MINUTE), "
    "countIf(posted_at <= {at:DateTime64(3, 'UTC')} - INTERVAL 15 MINUTE "
    "AND posted_at > {at:DateTime64(3, 'UTC')} - INTERVAL 15 MINUTE - INTERVAL 24 HOUR) "
    "FROM social FINAL WHERE event_id = {event_id:String} AND posted_at <= {at:DateTime64(3, 'UTC')} "
    "GROUP BY platform, kind"
)

SOCIAL_SERIES = (
    "SELECT {bucket} AS bucket, count() FROM social FINAL WHERE event_id = {{event_id:String}} "
    "AND posted_at > {{start:DateTime64(3, 'UTC')}} AND posted_at <= {{at:DateTime64(3, 'UTC')}} "
    "GROUP BY bucket ORDER BY bucket"
)


def bucket_unit(minutes: int) -> tuple[str, int]:
    """The interval unit and count for buckets of `minutes`: days or hours when they divide evenly."""
    if minutes % 1440 == 0:
        return "DAY", minutes // 1440
    if minutes % 60 == 0:
        return "HOUR", minutes // 60
    return "MINUTE", minutes


def series(template: str, column: str, minutes: int) -> str:
    """A series query with its bucket expression; the unit is one of three keywords, never user text."""
    unit, _ = bucket_unit(minutes)
    return template.format(bucket=_BUCKET.format(column=column, unit=unit))

"""The events query of the live views (their facts are read by `rows.py`)."""

# Events (latest versions) with their venues' time zones: one query for every event due for a re-read.
EVENTS = (
    "SELECT e.event_id, e.organizer_id, e.capacity, e.currency, e.tiers.name, e.tiers.capacity, v.timezone, "
    "toUnixTimestamp64Milli(e.starts_at) "
    "FROM (SELECT * FROM events FINAL WHERE event_id IN {event_ids:Array(String)}) AS e "
    "LEFT JOIN (SELECT venue_id, timezone FROM venues FINAL) AS v ON v.venue_id = e.venue_id"
)

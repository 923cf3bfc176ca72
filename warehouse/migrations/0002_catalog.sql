-- The catalog: venues and events, upserted by the platform (the row with the latest version wins).
--
-- ReplacingMergeTree keyed by the id keeps one row per id after merges; readers that must never see two
-- versions use FINAL or argMax(…, updated_at), which is cheap here: thousands of rows, not millions.
-- No partitioning: the tables are small and every live query looks events up by id.

-- shard_key: cityHash64(venue_id)
CREATE TABLE IF NOT EXISTS {database}.venues
(
    venue_id    String,
    name        String,
    city        LowCardinality(String),
    region      LowCardinality(String),
    country     LowCardinality(String),      -- ISO 3166-1 alpha-2
    lat         Float64,
    lon         Float64,
    capacity    UInt32,
    timezone    LowCardinality(String),      -- IANA name: live endpoints bucket time in it
    updated_at  DateTime64(3, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY venue_id;

-- shard_key: cityHash64(event_id)
CREATE TABLE IF NOT EXISTS {database}.events
(
    event_id     String,
    organizer_id LowCardinality(String),     -- hundreds of organizers: a dictionary beats repeating strings
    name         String,
    artist       String,
    genre        LowCardinality(String),
    venue_id     String,
    starts_at    DateTime64(3, 'UTC'),
    on_sale_at   DateTime64(3, 'UTC'),
    capacity     UInt32,
    currency     LowCardinality(String) DEFAULT '',
    tiers        Array(Tuple(name String, price Decimal(12, 2), capacity UInt32)),
    status       LowCardinality(String),     -- scheduled, postponed, cancelled
    updated_at   DateTime64(3, 'UTC'),       -- the version: the latest wins
    ingested_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY event_id;

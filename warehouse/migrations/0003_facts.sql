-- Raw facts, one table per stream, append-only; times in UTC DateTime64(3).
--
-- Why these keys:
-- * ORDER BY (event_id, <record id>): every live query filters on one event, so the event is the primary
--   key's prefix and an event's rows sit together (a few granules, read in milliseconds). The record id
--   completes the key so that ReplacingMergeTree folds a re-sent record into one row on merge, and
--   readers that need exact counts before a merge deduplicate on it (FINAL / uniqExact / argMax).
-- * PARTITION BY month of the fact's own time: a re-sent record has the same time, so it lands in the
--   same partition as its first copy (replacing works within a partition); months keep the partition
--   count low for years of data and let old months be moved or dropped whole.
-- * ingested_at is the replacing version: of two copies of one record, the later write wins.
-- * Codecs: Delta+ZSTD on times (sorted within an event, so deltas are small), ZSTD on free text,
--   LowCardinality on the short vocabularies (tier, channel, platform, gate, currency, country, city).
-- * Money is Decimal, never float.

-- shard_key: cityHash64(event_id)
CREATE TABLE IF NOT EXISTS {database}.sales
(
    sale_id           String,
    event_id          String,
    customer_id       String CODEC(ZSTD(1)),
    purchased_at      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    tier              LowCardinality(String),
    quantity          UInt16,
    unit_price        Decimal(12, 2),
    currency          LowCardinality(String),   -- ISO 4217
    channel           LowCardinality(String),   -- web, app, box_office, partner, resale
    promo_code        LowCardinality(String) DEFAULT '',
    buyer_birth_year  Nullable(UInt16),
    buyer_gender      LowCardinality(String) DEFAULT '',
    buyer_postal_code String DEFAULT '' CODEC(ZSTD(1)),
    buyer_city        LowCardinality(String) DEFAULT '',
    buyer_region      LowCardinality(String) DEFAULT '',
    buyer_country     LowCardinality(String) DEFAULT '',
    buyer_lat         Nullable(Float64),
    buyer_lon         Nullable(Float64),
    ingested_at       DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(purchased_at)
ORDER BY (event_id, sale_id);

-- Gate scans (attendance). Entries and exits of one ticket are separate scans with their own ids.
-- shard_key: cityHash64(event_id)
CREATE TABLE IF NOT EXISTS {database}.scans
(
    scan_id     String,
    event_id    String,
    ticket_id   String CODEC(ZSTD(1)),
    gate        LowCardinality(String),
    direction   Enum8('entry' = 1, 'exit' = 2),
    scanned_at  DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(scanned_at)
ORDER BY (event_id, scan_id);

-- Revenue lines: tickets, fees, merchandise, food & beverage, parking, sponsorship; refunds negative.
-- shard_key: cityHash64(event_id)
CREATE TABLE IF NOT EXISTS {database}.revenue
(
    revenue_id  String,
    event_id    String,
    category    LowCardinality(String),
    amount      Decimal(14, 2),
    currency    LowCardinality(String),
    recorded_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (event_id, revenue_id);

-- Social activity about an event: posts, mentions, shares, likes, comments.
-- shard_key: cityHash64(event_id)
CREATE TABLE IF NOT EXISTS {database}.social
(
    post_id          String,
    event_id         String,
    platform         LowCardinality(String),
    kind             LowCardinality(String),
    posted_at        DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    reach            UInt64,
    engagement       UInt64,
    sentiment        Nullable(Float32),        -- -1..1 when the platform scores it
    author_followers Nullable(UInt64),
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(posted_at)
ORDER BY (event_id, post_id);

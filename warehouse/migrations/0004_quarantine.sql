-- Records the ingest API rejected under ?partial=true, with the reason, for someone to look at and
-- re-send. Ordered by stream and time because that is how they are reviewed; kept 90 days.
-- shard_key: rand()
CREATE TABLE IF NOT EXISTS {database}.ingest_quarantine
(
    stream       LowCardinality(String),   -- sale, attendance, revenue, social, event, venue
    request_id   String,
    record_index UInt32,
    record       String CODEC(ZSTD(3)),    -- the record as received
    reason       String,
    received_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (stream, received_at)
TTL toDateTime(received_at) + INTERVAL 90 DAY;

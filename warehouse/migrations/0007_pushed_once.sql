-- What the live push announced once per event (sales and revenue milestones, capacity alerts), for an API
-- without Redis. Kept in its memory only, each restart announced again every milestone its events had reached,
-- at their next update. With TICKETTOKEN_REDIS_URL the announcements are kept in Redis instead. Tiny: a row
-- per announcement, read whole once at start.
-- shard_key: cityHash64(key)
CREATE TABLE IF NOT EXISTS {database}.pushed_once
(
    key       String,                  -- what was announced, e.g. sales:<event id>:share:0.25
    pushed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY key;

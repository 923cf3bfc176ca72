-- API keys. Only a SHA-256 of each key's secret is kept (keys are 256-bit random, so a fast hash is
-- enough; nothing here can recover a key). A row per version: revoking writes a newer version, and
-- readers take the latest per key_id (FINAL). Tiny table: every API worker caches it for a few seconds.
-- shard_key: cityHash64(key_id)
CREATE TABLE IF NOT EXISTS {database}.api_keys
(
    key_id       String,                   -- the public part of the key, shown in lists and logs
    secret_hash  String,                   -- hex SHA-256 of the secret part
    name         String DEFAULT '',
    scopes       Array(LowCardinality(String)),  -- ingest, read, admin
    organizer_id String DEFAULT '',        -- '' = every organizer
    created_at   DateTime64(3, 'UTC'),
    revoked_at   Nullable(DateTime64(3, 'UTC')),
    version      UInt64                    -- the latest version of a key wins
)
ENGINE = ReplacingMergeTree(version)
ORDER BY key_id;

-- Pre-aggregated rollups for pairs of dimensions (docs/query-api.md, "Pre-aggregated rollups";
-- the pairs are engine/query/rollup.py PAIRS). Statements are separated by lines holding only ";".
-- Every statement is idempotent.

-- The rows of rollup_dims for a pair of dimensions: dim is "a|b", value holds a's value and value2
-- b's. Written by the same seal as rollup_dims (engine/rollups.py), under the same versions.
CREATE TABLE IF NOT EXISTS rollup_pairs
(
    site_id               UInt32,
    dim                   LowCardinality(String),
    grain                 UInt8,
    bucket                Date,
    value                 String CODEC(ZSTD(1)),
    value2                String CODEC(ZSTD(1)),
    version               UInt64,
    c_visitors            UInt64 CODEC(T64, ZSTD(1)),
    c_sessions            UInt64 CODEC(T64, ZSTD(1)),
    c_pageviews           UInt64 CODEC(T64, ZSTD(1)),
    c_views_per_visit_n   UInt64 CODEC(T64, ZSTD(1)),
    c_views_per_visit_d   UInt64 CODEC(T64, ZSTD(1)),
    c_bounce_rate_n       UInt64 CODEC(T64, ZSTD(1)),
    c_bounce_rate_d       UInt64 CODEC(T64, ZSTD(1)),
    c_avg_duration_n      UInt64 CODEC(T64, ZSTD(1)),
    c_avg_duration_d      UInt64 CODEC(T64, ZSTD(1)),
    c_avg_scroll_n        UInt64 CODEC(T64, ZSTD(1)),
    c_avg_scroll_d        UInt64 CODEC(T64, ZSTD(1)),
    c_clickers            UInt64 CODEC(T64, ZSTD(1)),
    c_clickers_d          UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(bucket)
ORDER BY (site_id, dim, grain, bucket, value, value2)
;
-- A store sealed before this table existed has no pair rows: every seal is superseded by one that
-- covers no touch, so every day with data is dirty (raw data answers) until the maintenance job
-- has resealed it with its pairs (a migration runs once; re-running this only bumps versions again).
INSERT INTO rollup_state (site_id, grain, bucket, version, sealed_touch)
SELECT site_id, grain, bucket, version + 1, toDateTime64(0, 3, 'UTC')
FROM rollup_state FINAL

-- rollup_pairs re-sorted with the pair's first value before the day (docs/query-api.md,
-- "Pre-aggregated rollups"). The usual pair query filters on the first value and groups by the
-- second (pages by source = Google): sorted (…, grain, value, bucket, value2) its rows over any
-- range are one contiguous run instead of one run per day. Measured on the 101M-event bench store:
-- the rollup read of "pages filtered by source, 30 days" 93 → 25 ms (loadtest/results/run2/query/
-- layout/). The rows, versions and seals are unchanged: they are copied, not recomputed.
-- Statements are separated by lines holding only ";". Every statement is idempotent: an
-- interrupted copy is re-run in full and the duplicate rows (same key, same version) collapse.
CREATE TABLE IF NOT EXISTS rollup_pairs_v2
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
ORDER BY (site_id, dim, grain, value, bucket, value2)
-- On a cluster the copied rows stay on the shard of rollup_pairs' key, so new versions must follow:
-- shard by: cityHash64((site_id, dim, grain, bucket, value, value2))
;
INSERT INTO rollup_pairs_v2 SELECT * FROM rollup_pairs
;
-- Emptied here, dropped by 0014: a re-run of this migration then copies nothing.
TRUNCATE TABLE IF EXISTS rollup_pairs

-- Pre-aggregated per-dimension rollups (docs/query-api.md, "Pre-aggregated rollups").
-- Statements are separated by lines holding only ";". Every statement is idempotent.

-- One row per (site, grain, site-local day or month, dimension, value) holding the additive metric
-- components of engine/query/metrics.py, computed for that bucket exactly as a query over raw data
-- would compute them (engine/rollups.py runs the same compiler). dim '' holds the site's totals.
-- grain 1 = a site-local day, 2 = a site-local month (the sum of its days). A bucket is rewritten
-- whole under a new version (ReplacingMergeTree, read with FINAL); values that vanished get an
-- all-zero row at the new version, which no query shows.
CREATE TABLE IF NOT EXISTS rollup_dims
(
    site_id               UInt32,
    dim                   LowCardinality(String),
    grain                 UInt8,
    bucket                Date,
    value                 String,
    version               UInt64,
    c_visitors            UInt64,
    c_sessions            UInt64,
    c_pageviews           UInt64,
    c_views_per_visit_n   UInt64,
    c_views_per_visit_d   UInt64,
    c_bounce_rate_n       UInt64,
    c_bounce_rate_d       UInt64,
    c_avg_duration_n      UInt64,
    c_avg_duration_d      UInt64,
    c_avg_scroll_n        UInt64,
    c_avg_scroll_d        UInt64,
    c_clickers            UInt64,
    c_clickers_d          UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(bucket)
ORDER BY (site_id, dim, grain, bucket, value)
;
-- Which buckets are sealed, at which version, covering the data touched up to sealed_touch.
CREATE TABLE IF NOT EXISTS rollup_state
(
    site_id       UInt32,
    grain         UInt8,
    bucket        Date,
    version       UInt64,
    sealed_touch  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, grain, bucket)
;
-- When each UTC hour of each site last received an event (by event time and by session start, so
-- a late event of an old session dirties the day its session started). A day is served from the
-- rollup only while no hour of it was touched after its seal.
CREATE TABLE IF NOT EXISTS rollup_touched
(
    site_id   UInt32,
    hour      DateTime('UTC'),
    touched   SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (site_id, hour)
;
-- (distinct hours first, then the two hours of each: a few rows per insert, whatever its size)
CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_touched_mv TO rollup_touched AS
SELECT site_id, hour, now64(3) AS touched
FROM (SELECT DISTINCT site_id, toStartOfHour(timestamp) AS h, toStartOfHour(session_start) AS hs
      FROM events)
ARRAY JOIN [h, hs] AS hour
;
-- Events stored before this migration: every hour that has data is touched now, so the
-- maintenance job seals the whole history in the background (queries read raw data meanwhile).
INSERT INTO rollup_touched
SELECT site_id, hour, now64(3)
FROM (SELECT DISTINCT site_id, toStartOfHour(timestamp) AS hour FROM events)

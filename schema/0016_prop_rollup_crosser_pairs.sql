-- Custom properties with session metrics (engine/query/props_rollup.py): per sealed site-day d, the
-- events on d of the sessions not contained in one day (prop_rollup_crossers) grouped per session,
-- key and value (with "(none)" per key of the seal's days, as in prop_rollup_days): what a query
-- reads instead of those sessions' events. Written by the rollup seal under the day's version.
-- Statements are separated by lines holding only ";". Every statement is idempotent.
CREATE TABLE IF NOT EXISTS prop_rollup_crosser_pairs
(
    site_id        UInt32,
    bucket         Date,
    version        UInt64,
    session_id     UInt64,
    session_start  DateTime64(3, 'UTC'),
    key            LowCardinality(String),
    value          String CODEC(ZSTD(1)),
    events         UInt64,
    pageviews      UInt64,
    user_id        UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(bucket)
ORDER BY (site_id, key, bucket, value, session_id)
;
-- The seal a marker row of prop_rollup_days was written for (its version is that of the rows it
-- completes: a seal's own, or a fresh one when rows are added to an earlier seal).
ALTER TABLE prop_rollup_days ADD COLUMN IF NOT EXISTS seal_version UInt64
;
-- Days marked by a seal before this table existed have no pair rows: dropping the day rows (and
-- their markers) sends those days to event rows until the maintenance pass writes them again at
-- their seal's version (engine/rollups.py backfill_prop_days).
TRUNCATE TABLE IF EXISTS prop_rollup_days

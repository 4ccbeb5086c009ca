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
-- Which days' property rows are complete, for which seal of the day (rollup_state's version) and
-- under which version of the rows: a seal writes them under its own version, rows added to an
-- earlier seal (engine/rollups.py backfill_prop_days) under a fresh one. The marker rows that
-- schema/0015 kept in prop_rollup_days (key '', value '') are not read any more: days marked there
-- have no crosser pair rows, and are read from event rows until the maintenance pass adds them.
CREATE TABLE IF NOT EXISTS prop_rollup_markers
(
    site_id       UInt32,
    bucket        Date,
    seal_version  UInt64,
    version       UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYear(bucket)
ORDER BY (site_id, bucket, seal_version, version)

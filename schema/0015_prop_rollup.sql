-- Custom properties (SPEC §8) with session metrics, pre-aggregated per sealed site-day
-- (engine/query/props_rollup.py; written by the rollup seal, engine/rollups.py, under the versions
-- and freshness rules of rollup_state / rollup_touched). Statements are separated by lines holding
-- only ";". Every statement is idempotent.

-- Per (site, site-local day d, key, value): the metric components (metrics.py) of the sessions
-- that started on d, have every event (engagement updates aside) on d ("contained" sessions) and
-- have an event carrying the value ("(none)": an event without the key). key '' value '(none)':
-- every contained session of d (the "(none)" row of a key not seen in d's contained sessions);
-- (key '' value '' was a marker row per sealed day; since schema/0016 markers are in
-- prop_rollup_markers.) Rows are read at the version their day's marker names (no FINAL); a
-- seal rewrites a day under a new version, older rows are dropped by merges.
CREATE TABLE IF NOT EXISTS prop_rollup_days
(
    site_id               UInt32,
    key                   LowCardinality(String),
    bucket                Date,
    value                 String CODEC(ZSTD(1)),
    version               UInt64,
    c_visitors            UInt64 CODEC(T64, ZSTD(1)),
    c_sessions            UInt64 CODEC(T64, ZSTD(1)),
    c_events              UInt64 CODEC(T64, ZSTD(1)),
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
ORDER BY (site_id, key, bucket, value)
;
-- The sessions of a sealed day d that are not contained in one day: those with an event on d that
-- started on another day (started = 0), and those that started on d with an event on another day
-- (started = 1). A query reads their events on the pre-aggregated days from session_events (they
-- are not in the day rows). For started = 1 the merged session's columns the metrics read are
-- kept too (final while d is clean: every change to the session touches the hour it started).
CREATE TABLE IF NOT EXISTS prop_rollup_crossers
(
    site_id          UInt32,
    bucket           Date,
    version          UInt64,
    session_start    DateTime64(3, 'UTC'),
    session_id       UInt64,
    started          UInt8,
    user_id          UInt64,
    pageviews        UInt64,
    clicks           UInt64,
    engaged_ms       UInt64,
    max_scroll       UInt8,
    last_activity    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(bucket)
ORDER BY (site_id, bucket, session_start, session_id)

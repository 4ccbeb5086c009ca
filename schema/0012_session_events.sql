-- Funnels (SPEC §8): the events of each session (not engagement updates) in session order, with
-- just what step matching reads. A funnel counts the sessions that started in the range with all
-- their events: here that is one primary-key range (site, session start), read in session order,
-- where `events` (ordered by day, session) needs a scan of every event of the range and beyond.
-- `pathname` and `name` are LowCardinality, so step patterns are matched once per distinct path.
-- Session attributes are not copied: funnel filters select sessions from the sessions table.
CREATE TABLE IF NOT EXISTS session_events
(
    site_id        UInt32,
    session_start  DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    session_id     UInt64,
    timestamp      DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    event_id       UInt64,
    type           LowCardinality(String),
    name           LowCardinality(String),
    pathname       LowCardinality(String),
    user_id        UInt64,
    `meta.key`     Array(LowCardinality(String)),
    `meta.value`   Array(String) CODEC(ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(session_start)
ORDER BY (site_id, session_start, session_id, timestamp)
SETTINGS non_replicated_deduplication_window = 10000
;
CREATE MATERIALIZED VIEW IF NOT EXISTS session_events_mv TO session_events AS
SELECT site_id, session_start, session_id, timestamp, event_id, type, name, pathname, user_id,
    `meta.key`, `meta.value`
FROM events
WHERE type != 'engagement'
;
-- Backfill the events stored before this migration (runs before the app accepts events; the
-- truncate makes a re-run after an interrupted first run exact again).
TRUNCATE TABLE IF EXISTS session_events
;
INSERT INTO session_events
SELECT site_id, session_start, session_id, timestamp, event_id, type, name, pathname, user_id,
    `meta.key`, `meta.value`
FROM events
WHERE type != 'engagement'

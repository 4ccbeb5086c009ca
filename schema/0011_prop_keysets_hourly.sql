-- Custom properties (SPEC §8), the "(none)" rows: per site, UTC hour and *key set* (the sorted,
-- distinct meta keys an event carries: [] for most events), the events, pageviews, visitor and
-- session uniq states of the events (not engagement updates). The "(none)" row of key K over whole
-- hours is the merge of the rows whose key set lacks K (a handful per hour), instead of a scan of
-- every event's meta arrays; partial hours at the range edges come from raw events
-- (engine/query/props.py). Merging uniq states gives the same count as uniq over the raw rows
-- (as for events_hourly), so the answers are the same.
CREATE TABLE IF NOT EXISTS prop_keysets_hourly
(
    site_id    UInt32,
    hour       DateTime('UTC'),
    keys       Array(LowCardinality(String)),
    events     SimpleAggregateFunction(sum, UInt64),
    pageviews  SimpleAggregateFunction(sum, UInt64),
    visitors   AggregateFunction(uniq, UInt64),
    sessions   AggregateFunction(uniq, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, hour, keys)
SETTINGS non_replicated_deduplication_window = 10000
;
CREATE MATERIALIZED VIEW IF NOT EXISTS prop_keysets_hourly_mv TO prop_keysets_hourly AS
SELECT
    site_id,
    toStartOfHour(timestamp) AS hour,
    arraySort(arrayDistinct(`meta.key`)) AS keys,
    count() AS events,
    countIf(type = 'pageview') AS pageviews,
    uniqState(user_id) AS visitors,
    uniqState(session_id) AS sessions
FROM events
WHERE type != 'engagement'
GROUP BY site_id, hour, keys
;
-- Backfill the events stored before this migration (runs before the app accepts events; the
-- truncate makes a re-run after an interrupted first run exact again).
TRUNCATE TABLE IF EXISTS prop_keysets_hourly
;
INSERT INTO prop_keysets_hourly
SELECT
    site_id, toStartOfHour(timestamp) AS hour, arraySort(arrayDistinct(`meta.key`)) AS keys,
    count() AS events, countIf(type = 'pageview') AS pageviews, uniqState(user_id) AS visitors,
    uniqState(session_id) AS sessions
FROM events
WHERE type != 'engagement'
GROUP BY site_id, hour, keys

-- Custom properties (SPEC §8): one row per (event, meta key), so `prop:<key>` queries read only the
-- rows of that key instead of every event's meta arrays. Only events that carry properties have
-- rows (a few % of all events). A key sent twice on one event counts once, with its first value
-- (what `meta.value[indexOf(meta.key, key)]` gives on the raw events). Engagement updates carry
-- no properties and are not events of a property.
-- Ordered by site, key, day: a property breakdown over a range reads one key's granules of those
-- days. The session attributes and the path are copied so filters and dimensions need no join.
CREATE TABLE IF NOT EXISTS event_props
(
    site_id          UInt32,
    key              LowCardinality(String),
    value            String CODEC(ZSTD(1)),
    timestamp        DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    event_id         UInt64,
    type             LowCardinality(String),
    user_id          UInt64,
    session_id       UInt64,
    session_start    DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    pathname         String CODEC(ZSTD(1)),
    referrer_url     String CODEC(ZSTD(1)),
    source           LowCardinality(String),
    channel          LowCardinality(String),
    utm_source       LowCardinality(String),
    utm_medium       LowCardinality(String),
    utm_campaign     LowCardinality(String),
    utm_content      LowCardinality(String),
    utm_term         LowCardinality(String),
    country          LowCardinality(String),
    region           LowCardinality(String),
    city             LowCardinality(String),
    device           LowCardinality(String),
    browser          LowCardinality(String),
    browser_version  LowCardinality(String),
    os               LowCardinality(String),
    os_version       LowCardinality(String),
    screen           LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (site_id, key, toDate(timestamp), value, session_id)
SETTINGS non_replicated_deduplication_window = 10000
;
CREATE MATERIALIZED VIEW IF NOT EXISTS event_props_mv TO event_props AS
SELECT
    site_id, prop_key AS key, prop_value AS value, timestamp, event_id, type, user_id, session_id,
    session_start, pathname, referrer_url, source, channel, utm_source, utm_medium, utm_campaign,
    utm_content, utm_term, country, region, city, device, browser, browser_version, os, os_version,
    screen
FROM events
ARRAY JOIN `meta.key` AS prop_key, `meta.value` AS prop_value, arrayEnumerate(`meta.key`) AS prop_index
WHERE type != 'engagement' AND indexOf(`meta.key`, prop_key) = prop_index
;
-- Backfill the events stored before this migration (runs before the app accepts events; the
-- truncate makes a re-run after an interrupted first run exact again).
TRUNCATE TABLE IF EXISTS event_props
;
INSERT INTO event_props
SELECT
    site_id, prop_key AS key, prop_value AS value, timestamp, event_id, type, user_id, session_id,
    session_start, pathname, referrer_url, source, channel, utm_source, utm_medium, utm_campaign,
    utm_content, utm_term, country, region, city, device, browser, browser_version, os, os_version,
    screen
FROM events
ARRAY JOIN `meta.key` AS prop_key, `meta.value` AS prop_value, arrayEnumerate(`meta.key`) AS prop_index
WHERE type != 'engagement' AND indexOf(`meta.key`, prop_key) = prop_index
;

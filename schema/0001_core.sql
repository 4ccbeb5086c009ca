-- Clickport core schema, version 1.
-- Statements are separated by lines holding only ";". Every statement is idempotent.

-- Raw events: one row per accepted pageview / click / form / custom / engagement event.
-- Partitioned by month so a time range prunes whole parts; ordered by site first so a
-- query on one site reads only that site's granules inside those parts.
CREATE TABLE IF NOT EXISTS events
(
    site_id          UInt32,
    timestamp        DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    event_id         UInt64,
    type             LowCardinality(String),
    name             LowCardinality(String),
    user_id          UInt64,
    session_id       UInt64,
    -- The time of the session's first event, carried on every event so that all rows of a
    -- session aggregate into the same sessions row (see the sessions table key).
    session_start    DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    page_visit_id    UInt64,
    hostname         LowCardinality(String),
    pathname         String CODEC(ZSTD(1)),
    url              String CODEC(ZSTD(1)),
    -- Session-level acquisition and client attributes: copied from the session's first event.
    referrer_url     String CODEC(ZSTD(1)),
    source           LowCardinality(String),
    channel          LowCardinality(String),
    utm_source       LowCardinality(String),
    utm_medium       LowCardinality(String),
    utm_campaign     LowCardinality(String),
    utm_content      LowCardinality(String),
    utm_term         LowCardinality(String),
    click_id_param   LowCardinality(String),
    country          LowCardinality(String),
    region           LowCardinality(String),
    city             LowCardinality(String),
    device           LowCardinality(String),
    browser          LowCardinality(String),
    browser_version  LowCardinality(String),
    os               LowCardinality(String),
    os_version       LowCardinality(String),
    screen           LowCardinality(String),
    -- Engagement: running maxima reported by the sender, and the increase over what the
    -- server had already seen for that page visit (so sums never double-count re-sent updates).
    scroll_depth     Nullable(UInt8),
    engaged_ms       Nullable(UInt32),
    engaged_delta_ms UInt32,
    revenue_amount   Decimal(18, 6),
    revenue_currency LowCardinality(String),
    `meta.key`       Array(LowCardinality(String)),
    `meta.value`     Array(String) CODEC(ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (site_id, toDate(timestamp), session_id, timestamp)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
;
-- Session aggregates. The key is (site, session start, session id): every event of a session carries
-- the same session_start, so a session's rows always merge, and two sessions merge only if they share
-- site, start millisecond and a 53-bit random id. Partitioned by the month of the session's start,
-- never split by a month boundary.
CREATE TABLE IF NOT EXISTS sessions
(
    site_id          UInt32,
    session_start    DateTime64(3, 'UTC'),
    session_id       UInt64,
    user_id          SimpleAggregateFunction(any, UInt64),
    last_event       SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    last_activity    SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    events           SimpleAggregateFunction(sum, UInt64),
    pageviews        SimpleAggregateFunction(sum, UInt64),
    clicks           SimpleAggregateFunction(sum, UInt64),
    engaged_ms       SimpleAggregateFunction(sum, UInt64),
    max_scroll       SimpleAggregateFunction(max, UInt8),
    entry_page       AggregateFunction(argMin, String, Tuple(DateTime64(3, 'UTC'), UInt64)),
    exit_page        AggregateFunction(argMax, String, Tuple(DateTime64(3, 'UTC'), UInt64)),
    hostname         SimpleAggregateFunction(any, LowCardinality(String)),
    referrer_url     SimpleAggregateFunction(any, String),
    source           SimpleAggregateFunction(any, LowCardinality(String)),
    channel          SimpleAggregateFunction(any, LowCardinality(String)),
    utm_source       SimpleAggregateFunction(any, LowCardinality(String)),
    utm_medium       SimpleAggregateFunction(any, LowCardinality(String)),
    utm_campaign     SimpleAggregateFunction(any, LowCardinality(String)),
    utm_content      SimpleAggregateFunction(any, LowCardinality(String)),
    utm_term         SimpleAggregateFunction(any, LowCardinality(String)),
    click_id_param   SimpleAggregateFunction(any, LowCardinality(String)),
    country          SimpleAggregateFunction(any, LowCardinality(String)),
    region           SimpleAggregateFunction(any, LowCardinality(String)),
    city             SimpleAggregateFunction(any, LowCardinality(String)),
    device           SimpleAggregateFunction(any, LowCardinality(String)),
    browser          SimpleAggregateFunction(any, LowCardinality(String)),
    browser_version  SimpleAggregateFunction(any, LowCardinality(String)),
    os               SimpleAggregateFunction(any, LowCardinality(String)),
    os_version       SimpleAggregateFunction(any, LowCardinality(String)),
    screen           SimpleAggregateFunction(any, LowCardinality(String)),
    INDEX session_id_idx session_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX user_id_idx user_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(session_start)
ORDER BY (site_id, session_start, session_id)
-- With deduplicate_blocks_in_dependent_materialized_views, a replayed insert is skipped here too.
SETTINGS non_replicated_deduplication_window = 10000
;
CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_mv TO sessions AS
SELECT
    site_id,
    session_start,
    session_id,
    any(user_id) AS user_id,
    max(timestamp) AS last_event,
    maxIf(timestamp, type != 'engagement') AS last_activity,
    count() AS events,
    countIf(type = 'pageview') AS pageviews,
    countIf(type = 'click') AS clicks,
    sum(engaged_delta_ms) AS engaged_ms,
    max(ifNull(scroll_depth, 0)) AS max_scroll,
    argMinStateIf(pathname, (timestamp, event_id), type = 'pageview') AS entry_page,
    argMaxStateIf(pathname, (timestamp, event_id), type = 'pageview') AS exit_page,
    any(hostname) AS hostname,
    any(referrer_url) AS referrer_url,
    any(source) AS source,
    any(channel) AS channel,
    any(utm_source) AS utm_source,
    any(utm_medium) AS utm_medium,
    any(utm_campaign) AS utm_campaign,
    any(utm_content) AS utm_content,
    any(utm_term) AS utm_term,
    any(click_id_param) AS click_id_param,
    any(country) AS country,
    any(region) AS region,
    any(city) AS city,
    any(device) AS device,
    any(browser) AS browser,
    any(browser_version) AS browser_version,
    any(os) AS os,
    any(os_version) AS os_version,
    any(screen) AS screen
FROM events
GROUP BY site_id, session_start, session_id
;
-- Page visits: one row per pageview's page_visit_id, with the deepest scroll and the longest engaged
-- time any update reported (running totals, so max() is exact and a re-sent update changes nothing).
-- Keyed by the session's start like sessions, since engagement updates carry the same session_start.
CREATE TABLE IF NOT EXISTS page_visits
(
    site_id          UInt32,
    session_start    DateTime64(3, 'UTC'),
    page_visit_id    UInt64,
    visit_start      SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    session_id       SimpleAggregateFunction(any, UInt64),
    user_id          SimpleAggregateFunction(any, UInt64),
    pathname         SimpleAggregateFunction(any, String),
    pageviews        SimpleAggregateFunction(sum, UInt64),
    max_scroll       SimpleAggregateFunction(max, UInt8),
    max_engaged_ms   SimpleAggregateFunction(max, UInt32),
    has_scroll       SimpleAggregateFunction(max, UInt8),
    has_engagement   SimpleAggregateFunction(max, UInt8),
    INDEX page_visit_id_idx page_visit_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(session_start)
ORDER BY (site_id, session_start, page_visit_id)
SETTINGS non_replicated_deduplication_window = 10000
;
CREATE MATERIALIZED VIEW IF NOT EXISTS page_visits_mv TO page_visits AS
SELECT
    site_id,
    session_start,
    page_visit_id,
    min(timestamp) AS visit_start,
    any(session_id) AS session_id,
    any(user_id) AS user_id,
    any(pathname) AS pathname,
    countIf(type = 'pageview') AS pageviews,
    max(ifNull(scroll_depth, 0)) AS max_scroll,
    max(ifNull(engaged_ms, 0)) AS max_engaged_ms,
    max(scroll_depth IS NOT NULL) AS has_scroll,
    max(engaged_ms IS NOT NULL) AS has_engagement
FROM events
WHERE page_visit_id != 0 AND type IN ('pageview', 'engagement')
GROUP BY site_id, session_start, page_visit_id
;
-- Administration: sites, API keys (hash only) and goals. Small tables; the app caches them.
-- ReplacingMergeTree on a version column: an update or delete is a new row with a higher version.
CREATE TABLE IF NOT EXISTS sites
(
    site_id     UInt32,
    domain      String,
    timezone    String,
    created_at  DateTime64(3, 'UTC'),
    deleted     UInt8,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY site_id
;
CREATE TABLE IF NOT EXISTS api_keys
(
    key_hash     String,
    key_prefix   String,
    site_id      UInt32,
    name         String,
    can_read     UInt8,
    can_track    UInt8,
    created_at   DateTime64(3, 'UTC'),
    revoked      UInt8,
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY key_hash
;
CREATE TABLE IF NOT EXISTS goals
(
    goal_id      UInt32,
    site_id      UInt32,
    name         String,
    type         LowCardinality(String),
    -- pageview: a path pattern ("/pricing", "/blog/*"); custom/form/click: the event name to match
    -- (empty matches any form / click).
    match_value  String,
    created_at   DateTime64(3, 'UTC'),
    deleted      UInt8,
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, goal_id)
;

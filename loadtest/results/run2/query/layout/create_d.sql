!DROP TABLE IF EXISTS rd_t0
;
!CREATE TABLE rd_t0 
(
    site_id               UInt32,
    dim                   LowCardinality(String),
    grain                 UInt8,
    bucket                Date,
    value String CODEC(ZSTD(1)),
    value2 String CODEC(ZSTD(1)),
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
 ENGINE = ReplacingMergeTree(version) PARTITION BY toYear(bucket) ORDER BY (site_id, dim, grain, bucket, value, value2) SETTINGS index_granularity=8192
;
!INSERT INTO rd_t0 SELECT * FROM rollup_pairs FINAL WHERE site_id=1 AND dim='source|device'
;
!OPTIMIZE TABLE rd_t0 FINAL
;
!DROP TABLE IF EXISTS rd_t2
;
!CREATE TABLE rd_t2 
(
    site_id               UInt32,
    dim                   LowCardinality(String),
    grain                 UInt8,
    bucket                Date,
    value String CODEC(ZSTD(1)),
    value2 String CODEC(ZSTD(1)),
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
 ENGINE = ReplacingMergeTree(version) PARTITION BY toYear(bucket) ORDER BY (site_id, dim, grain, value, bucket, value2) SETTINGS index_granularity=8192
;
!INSERT INTO rd_t2 SELECT * FROM rollup_pairs FINAL WHERE site_id=1 AND dim='source|device'
;
!OPTIMIZE TABLE rd_t2 FINAL
;

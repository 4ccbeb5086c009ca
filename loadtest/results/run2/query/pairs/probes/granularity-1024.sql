DROP TABLE IF EXISTS tmp_pairs
;
CREATE TABLE tmp_pairs AS rollup_pairs ENGINE = ReplacingMergeTree(version) PARTITION BY toYear(bucket) ORDER BY (site_id, dim, grain, bucket, value, value2) SETTINGS index_granularity = 1024
;
ALTER TABLE tmp_pairs MODIFY SETTING parts_to_throw_insert = 3000
;
SELECT value2 AS page, sum(c_visitors) v, sum(c_pageviews) FROM tmp_pairs FINAL WHERE site_id=1 AND dim='source|page' AND grain=1 AND bucket >= '2026-10-31' AND bucket <= '2026-11-28' AND value='Google' GROUP BY page ORDER BY v DESC LIMIT 10
;
SELECT value2 AS page, sum(c_visitors) v, sum(c_pageviews) FROM rollup_pairs FINAL WHERE site_id=1 AND dim='source|page' AND grain=1 AND bucket >= '2026-10-31' AND bucket <= '2026-11-28' AND value='Google' GROUP BY page ORDER BY v DESC LIMIT 10
;
SELECT value AS s, sum(c_visitors) v FROM tmp_pairs FINAL WHERE site_id=1 AND dim='source|page' AND grain=1 AND bucket >= '2026-10-31' AND bucket <= '2026-11-28' AND value2='/about' GROUP BY s ORDER BY v DESC LIMIT 10
;
SELECT value AS s, sum(c_visitors) v FROM rollup_pairs FINAL WHERE site_id=1 AND dim='source|page' AND grain=1 AND bucket >= '2026-10-31' AND bucket <= '2026-11-28' AND value2='/about' GROUP BY s ORDER BY v DESC LIMIT 10
;
SELECT value2 AS c, sum(c_visitors) v FROM tmp_pairs FINAL WHERE site_id=1 AND dim='source|device' AND ((grain=1 AND bucket >= '2026-10-31' AND bucket <= '2026-11-28') OR grain=2) AND value2='Desktop' GROUP BY c ORDER BY v DESC LIMIT 10
;
SELECT value2 AS c, sum(c_visitors) v FROM rollup_pairs FINAL WHERE site_id=1 AND dim='source|device' AND ((grain=1 AND bucket >= '2026-10-31' AND bucket <= '2026-11-28') OR grain=2) AND value2='Desktop' GROUP BY c ORDER BY v DESC LIMIT 10

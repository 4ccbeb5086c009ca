DROP TABLE IF EXISTS tmp_pairs
;
CREATE TABLE tmp_pairs ENGINE = ReplacingMergeTree(version) PARTITION BY toYear(bucket) ORDER BY (site_id, dim, grain, value, bucket, value2) AS SELECT * FROM rollup_pairs WHERE site_id=1 AND dim='source|page'
;
SELECT value2 AS page, sum(c_visitors) v, sum(c_pageviews) FROM tmp_pairs FINAL WHERE site_id=1 AND dim='source|page' AND grain=1 AND bucket >= '2026-10-31' AND bucket <= '2026-11-28' AND value='Google' GROUP BY page ORDER BY v DESC LIMIT 10
;
SELECT value2 AS page, sum(c_visitors) v, sum(c_pageviews) FROM rollup_pairs FINAL WHERE site_id=1 AND dim='source|page' AND grain=1 AND bucket >= '2026-10-31' AND bucket <= '2026-11-28' AND value='Google' GROUP BY page ORDER BY v DESC LIMIT 10
;
SELECT value AS s, sum(c_visitors) v FROM tmp_pairs FINAL WHERE site_id=1 AND dim='source|page' AND grain=1 AND bucket >= '2026-10-31' AND bucket <= '2026-11-28' AND value2='/about' GROUP BY s ORDER BY v DESC LIMIT 10
;
SELECT value AS s, sum(c_visitors) v FROM rollup_pairs FINAL WHERE site_id=1 AND dim='source|page' AND grain=1 AND bucket >= '2026-10-31' AND bucket <= '2026-11-28' AND value2='/about' GROUP BY s ORDER BY v DESC LIMIT 10
;
DROP TABLE tmp_pairs

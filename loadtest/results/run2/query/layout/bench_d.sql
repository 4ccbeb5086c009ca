SELECT value AS d0, sum(c_visitors) v, sum(c_sessions), sum(c_bounce_rate_n), sum(c_bounce_rate_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM rollup_pairs FINAL WHERE site_id = {site:UInt32} AND dim = 'source|device' AND grain = 1 AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date} AND has({r_days:Array(Date)}, bucket) AND value2 = 'Desktop' GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT count() FROM rollup_pairs WHERE site_id = {site:UInt32} AND dim = 'source|device' AND grain = 1 AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date} AND value2 = 'Desktop'
;
SELECT value2 AS d0, sum(c_visitors) v, sum(c_sessions), sum(c_bounce_rate_n), sum(c_bounce_rate_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM rollup_pairs FINAL WHERE site_id = {site:UInt32} AND dim = 'source|device' AND grain = 1 AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date} AND has({r_days:Array(Date)}, bucket) AND value = 'Google' GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT value AS d0, sum(c_visitors) v, sum(c_sessions), sum(c_bounce_rate_n), sum(c_bounce_rate_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM rd_t0 FINAL WHERE site_id = {site:UInt32} AND dim = 'source|device' AND grain = 1 AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date} AND has({r_days:Array(Date)}, bucket) AND value2 = 'Desktop' GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT count() FROM rd_t0 WHERE site_id = {site:UInt32} AND dim = 'source|device' AND grain = 1 AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date} AND value2 = 'Desktop'
;
SELECT value2 AS d0, sum(c_visitors) v, sum(c_sessions), sum(c_bounce_rate_n), sum(c_bounce_rate_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM rd_t0 FINAL WHERE site_id = {site:UInt32} AND dim = 'source|device' AND grain = 1 AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date} AND has({r_days:Array(Date)}, bucket) AND value = 'Google' GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT value AS d0, sum(c_visitors) v, sum(c_sessions), sum(c_bounce_rate_n), sum(c_bounce_rate_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM rd_t2 FINAL WHERE site_id = {site:UInt32} AND dim = 'source|device' AND grain = 1 AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date} AND has({r_days:Array(Date)}, bucket) AND value2 = 'Desktop' GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT count() FROM rd_t2 WHERE site_id = {site:UInt32} AND dim = 'source|device' AND grain = 1 AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date} AND value2 = 'Desktop'
;
SELECT value2 AS d0, sum(c_visitors) v, sum(c_sessions), sum(c_bounce_rate_n), sum(c_bounce_rate_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM rd_t2 FINAL WHERE site_id = {site:UInt32} AND dim = 'source|device' AND grain = 1 AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date} AND has({r_days:Array(Date)}, bucket) AND value = 'Google' GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT table, sum(rows), sum(marks), sum(data_compressed_bytes) FROM system.parts WHERE active AND startsWith(table, 'rd_t') GROUP BY table ORDER BY table
;
SELECT uniqExact(value) FROM rd_t0 WHERE grain=1

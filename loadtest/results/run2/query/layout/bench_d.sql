SELECT value AS d0, sum(c_visitors) v, sum(c_sessions), sum(c_bounce_rate_n), sum(c_bounce_rate_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM TBL FINAL WHERE site_id = {site:UInt32} AND dim = 'source|device' AND grain = 1 AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date} AND has({r_days:Array(Date)}, bucket) AND value2 = 'Desktop' GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT count() FROM TBL WHERE site_id = {site:UInt32} AND dim = 'source|device' AND grain = 1 AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date} AND value2 = 'Desktop'
;
SELECT value2 AS d0, sum(c_visitors) v, sum(c_sessions), sum(c_bounce_rate_n), sum(c_bounce_rate_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM TBL FINAL WHERE site_id = {site:UInt32} AND dim = 'source|device' AND grain = 1 AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date} AND has({r_days:Array(Date)}, bucket) AND value = 'Google' GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10

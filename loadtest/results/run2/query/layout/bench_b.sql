SELECT value2 AS d0, sum(c_visitors) v, sum(c_pageviews), sum(c_avg_scroll_n), sum(c_avg_scroll_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM rollup_pairs FINAL WHERE $W AND has({r_days:Array(Date)}, bucket) AND value = {p10:String} GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT count(), sum(c_pageviews) FROM rollup_pairs WHERE $W AND value = {p10:String}

;
SELECT value2 AS d0, sum(c_visitors) v, sum(c_pageviews), sum(c_avg_scroll_n), sum(c_avg_scroll_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM rp_t0 FINAL WHERE $W AND has({r_days:Array(Date)}, bucket) AND value = {p10:String} GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT count(), sum(c_pageviews) FROM rp_t0 WHERE $W AND value = {p10:String}

;
SELECT value2 AS d0, sum(c_visitors) v, sum(c_pageviews), sum(c_avg_scroll_n), sum(c_avg_scroll_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM rp_t1 FINAL WHERE $W AND has({r_days:Array(Date)}, bucket) AND value = {p10:String} GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT count(), sum(c_pageviews) FROM rp_t1 WHERE $W AND value = {p10:String}

;
SELECT value2 AS d0, sum(c_visitors) v, sum(c_pageviews), sum(c_avg_scroll_n), sum(c_avg_scroll_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM rp_t2 FINAL WHERE $W AND has({r_days:Array(Date)}, bucket) AND value = {p10:String} GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT count(), sum(c_pageviews) FROM rp_t2 WHERE $W AND value = {p10:String}

;
SELECT value2 AS d0, sum(c_visitors) v, sum(c_pageviews), sum(c_avg_scroll_n), sum(c_avg_scroll_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM rp_t3 FINAL WHERE $W AND has({r_days:Array(Date)}, bucket) AND value = {p10:String} GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT count(), sum(c_pageviews) FROM rp_t3 WHERE $W AND value = {p10:String}

;
SELECT value2 AS d0, sum(c_visitors) v, sum(c_pageviews), sum(c_avg_scroll_n), sum(c_avg_scroll_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM rp_t4 FINAL WHERE $W AND has({r_days:Array(Date)}, bucket) AND value = {p10:String} GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT count(), sum(c_pageviews) FROM rp_t4 WHERE $W AND value = {p10:String}

;
SELECT table, sum(rows), sum(marks), sum(data_compressed_bytes) FROM system.parts WHERE active AND startsWith(table, 'rp_t') GROUP BY table ORDER BY table

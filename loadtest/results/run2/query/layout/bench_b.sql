SELECT value2 AS d0, sum(c_visitors) v, sum(c_pageviews), sum(c_avg_scroll_n), sum(c_avg_scroll_d), sum(c_avg_duration_n), sum(c_avg_duration_d) FROM TBL FINAL WHERE $W AND has({r_days:Array(Date)}, bucket) AND value = {p10:String} GROUP BY d0 ORDER BY v DESC, d0 LIMIT 10
;
SELECT count(), sum(c_pageviews) FROM TBL WHERE $W AND value = {p10:String}

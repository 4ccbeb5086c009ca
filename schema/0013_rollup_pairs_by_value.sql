-- rollup_pairs re-sorted with the pair's first value before the day (docs/query-api.md,
-- "Pre-aggregated rollups"). The usual pair query filters on the first value and groups by the
-- second (pages by source = Google): sorted (…, grain, value, bucket, value2) its rows over any
-- range are one contiguous run instead of one run per day. Measured on the 101M-event bench store:
-- the rollup read of "pages filtered by source, 30 days" 93 → 25 ms (loadtest/results/run2/query/
-- layout/). The rows, versions and seals are unchanged: they are copied, not recomputed.
-- Statements are separated by lines holding only ";". Every statement is idempotent: an
-- interrupted copy is re-run in full and the duplicate rows (same key, same version) collapse.
-- The same columns (and codecs) as rollup_pairs (0005); only the sort order differs.
CREATE TABLE IF NOT EXISTS rollup_pairs_v2 AS rollup_pairs
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(bucket)
ORDER BY (site_id, dim, grain, value, bucket, value2)
-- On a cluster the copied rows stay on the shard of rollup_pairs' key, so new versions must follow:
-- shard by: cityHash64((site_id, dim, grain, bucket, value, value2))
;
INSERT INTO rollup_pairs_v2 SELECT * FROM rollup_pairs
;
-- Emptied here, dropped by 0014: a re-run of this migration then copies nothing.
TRUNCATE TABLE IF EXISTS rollup_pairs

-- A replayed insert (the writer's retry or the spool replay after a crash, same deduplication token)
-- is skipped in events, sessions and page_visits, but events_hourly had no deduplication window, so
-- the materialized view counted the replayed block again (found by the cluster tests: 1,000 events,
-- 2,000 pageviews in events_hourly). With the window, deduplicate_blocks_in_dependent_materialized_views
-- skips it here too. Idempotent.
ALTER TABLE events_hourly MODIFY SETTING non_replicated_deduplication_window = 10000

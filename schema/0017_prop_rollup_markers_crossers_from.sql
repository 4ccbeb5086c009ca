-- Custom properties with session metrics (engine/query/props_rollup.py): each day's marker also
-- names the earliest start of a session with an event on the day, at most the day's own midnight
-- (`crossers_from`; earlier only for a session that started on an earlier day). A breakdown then
-- knows, without reading the crossers at query time, from where the merged sessions of the
-- crossers that started before its range must be read (one table read and one scalar subquery
-- less in every such query). Markers written before this column existed read as 1970-01-01:
-- unknown, and the query reads the crossers for it as before; the maintenance pass rewrites those
-- days' rows and markers (engine/rollups.py backfill_prop_days). Idempotent.
ALTER TABLE prop_rollup_markers
    ADD COLUMN IF NOT EXISTS crossers_from DateTime64(3, 'UTC') DEFAULT toDateTime64(0, 3, 'UTC')

"""Cluster DDL (engine/cluster.py) checked with ClickHouse's own parser (`formatQuery`).

Replicated engines and ON CLUSTER cannot run on these machines (no Keeper in chDB's server mode,
docs/deploy.md), so the Replicated* DDL of CLICKPORT_REPLICATED=1 is checked here as SQL only."""

from __future__ import annotations

import re

import pytest

from engine.cluster import (
    ClusterDDLError,
    ClusterSchema,
    ClusterTarget,
    is_data_statement,
    on_cluster,
    rename_tables,
)
from engine.migrations import migration_files, statements

pytestmark = pytest.mark.cluster

FUTURE = """
CREATE TABLE IF NOT EXISTS daily_pages
(
    site_id UInt32,
    day Date,
    pathname String,
    events SimpleAggregateFunction(sum, UInt64) -- a column named like a table
)
ENGINE = AggregatingMergeTree
ORDER BY (site_id, day, pathname)
;
CREATE MATERIALIZED VIEW IF NOT EXISTS daily_pages_mv TO daily_pages AS
SELECT site_id, toDate(timestamp) AS day, pathname, count() AS events
FROM events WHERE pathname != 'FROM events' GROUP BY site_id, day, pathname
;
INSERT INTO daily_pages SELECT site_id, toDate(timestamp), pathname, count() FROM events
WHERE session_id IN (SELECT session_id FROM sessions) GROUP BY ALL
;
ALTER TABLE events ADD COLUMN IF NOT EXISTS lang LowCardinality(String)
;
ALTER TABLE sessions ADD INDEX IF NOT EXISTS src_idx source TYPE set(100) GRANULARITY 4
"""


def merge_tree_tables() -> set[str]:
    """Every MergeTree-family table the shipped migrations create (read from the SQL text)."""
    found = set()
    for _, _, sql in migration_files():
        for statement in statements(sql):
            match = re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", statement)
            if match and re.search(r"ENGINE\s*=\s*\w*MergeTree", statement):
                found.add(match.group(1))
    return found


def mapped(replicated: bool, extra: str = "") -> list[str]:
    schema = ClusterSchema(ClusterTarget("clickport", "clickport", replicated))
    out = []
    for _, _, sql in migration_files():
        for statement in statements(sql):
            out += schema.statements_for_node(statement)
    for statement in statements(extra):
        out += schema.statements_for_node(statement)
    return out


@pytest.fixture(scope="module")
def format_query(client, app):
    store = app.state.store
    return lambda sql: store.rows("SELECT formatQuery({q:String})", {"q": sql})[0][0]


@pytest.mark.parametrize("replicated", [False, True], ids=["plain", "replicated"])
def test_every_cluster_statement_parses(format_query, replicated):
    for statement in mapped(replicated, FUTURE):
        assert format_query(statement)


def test_replicated_local_tables_use_shard_and_replica_macros(format_query):
    creates = [s for s in mapped(True, FUTURE) if re.search(r"CREATE TABLE IF NOT EXISTS `\w+_local`", s)]
    names = {re.search(r"CREATE TABLE IF NOT EXISTS `(\w+)`", s).group(1) for s in creates}
    assert names == {f"{table}_local" for table in merge_tree_tables()} | {"daily_pages_local"}
    for statement in creates:
        text = format_query(statement)
        name = re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", text).group(1)
        engine = re.search(r"ENGINE = (\w+)\(([^)]*)\)", text)
        assert engine.group(1).startswith("Replicated") and engine.group(1).endswith("MergeTree"), text
        assert engine.group(2).startswith(f"'/clickhouse/tables/{{shard}}/clickport/{name}', '{{replica}}'")
    sites = next(format_query(s) for s in creates if "sites_local" in s)
    assert ("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/clickport/sites_local', "
            "'{replica}', version)") in sites


def test_distributed_tables_shard_by_session(format_query):
    out = {re.match(r"CREATE TABLE IF NOT EXISTS `(\w+)`", s).group(1): format_query(s)
           for s in mapped(False) if "Distributed(" in s}
    assert set(out) == merge_tree_tables()
    assert {"events", "sessions", "page_visits", "sites", "api_keys", "goals"} <= set(out)
    for table in ("events", "sessions", "page_visits"):
        assert f"Distributed('clickport', 'clickport', '{table}_local', cityHash64(session_id))" in out[table]
    assert "cityHash64(site_id)" in out["sites"]
    assert "cityHash64((site_id, goal_id))" in out["goals"]
    # a re-sorted copy (schema/0013, `-- shard by:`) keeps its source's placement, so the versions a
    # later seal writes meet the rows copied node by node
    key = "cityHash64((site_id, dim, grain, bucket, value, value2))"
    assert f"'rollup_pairs_local', {key})" in out["rollup_pairs"]
    assert f"'rollup_pairs_v2_local', {key})" in out["rollup_pairs_v2"]


def test_views_and_backfills_use_the_local_tables():
    out = mapped(False, FUTURE)
    mv = next(s for s in out if s.startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS daily_pages_mv"))
    assert "TO `daily_pages_local`" in mv and "FROM `events_local`" in mv
    assert "'FROM events'" in mv and "count() AS events" in mv  # literals and aliases untouched
    insert = next(s for s in out if s.startswith("INSERT INTO `daily_pages"))
    assert insert.startswith("INSERT INTO `daily_pages_local`")
    assert "FROM `events_local`" in insert and "FROM `sessions_local`" in insert
    assert any(s.endswith("TRUNCATE TABLE IF EXISTS `events_hourly_local`") for s in out)
    alter_column = [s for s in out if "ADD COLUMN IF NOT EXISTS lang" in s]
    assert alter_column == ["ALTER TABLE `events_local` ADD COLUMN IF NOT EXISTS lang LowCardinality(String)",
                            "ALTER TABLE events ADD COLUMN IF NOT EXISTS lang LowCardinality(String)"]
    # a shipped one (schema/0017): the local table, then the Distributed table that mirrors it
    markers = [s for s in out if "ADD COLUMN IF NOT EXISTS crossers_from" in s]
    assert len(markers) == 2 and "ALTER TABLE `prop_rollup_markers_local`" in markers[0]
    assert "ALTER TABLE prop_rollup_markers" in markers[1]
    assert [s for s in out if "ADD INDEX" in s] == [
        "ALTER TABLE `sessions_local` ADD INDEX IF NOT EXISTS src_idx source TYPE set(100) GRANULARITY 4"]


def test_unmappable_view_is_refused_by_name():
    schema = ClusterSchema(ClusterTarget("c", "db"), {"events"})
    with pytest.raises(ClusterDDLError, match="TO <table>"):
        schema.statements_for_node("CREATE MATERIALIZED VIEW v ENGINE = MergeTree ORDER BY a AS SELECT 1")


def test_rename_leaves_columns_and_qualified_names():
    sql = "SELECT events FROM events AS e JOIN db.events USING (x) WHERE 'events' != events"
    assert rename_tables(sql, {"events"}) == (
        "SELECT events FROM `events_local` AS e JOIN db.events USING (x) WHERE 'events' != events")


def test_on_cluster_ddl_parses_with_the_cluster_after_the_name(format_query):
    """CLICKPORT_ON_CLUSTER=1 (with Keeper): every schema statement once, ON CLUSTER."""
    ddl = [s for s in mapped(True, FUTURE) if not is_data_statement(s)]
    assert len(ddl) > 10
    for statement in ddl:
        text = format_query(on_cluster(statement, "clickport"))
        assert re.match(r"(CREATE|ALTER|DROP) [A-Z ]*?`?\w+`? ON CLUSTER '?clickport'?", text), text


def test_data_statements_are_recognised_behind_comments():
    assert is_data_statement("-- backfill\nTRUNCATE TABLE IF EXISTS x")
    assert is_data_statement("INSERT INTO x SELECT 1")
    assert not is_data_statement("-- INSERT in a comment\nCREATE TABLE x (a UInt8) ENGINE = Memory")

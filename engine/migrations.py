"""Versioned schema migrations: `schema/NNNN_name.sql`, applied in order, recorded, idempotent.

On a cluster (StoreConfig.cluster) each statement is first mapped by engine/cluster.py (local
tables + Distributed tables, views on the local tables) and then applied node by node, to every
node listed in system.clusters: each node records its own `schema_migrations`, so a node that
was down catches up on the next start. `ON CLUSTER` is not needed (nor available without Keeper).
"""

from __future__ import annotations

import logging
import re
import time
from importlib import resources

from engine.cluster import ClusterSchema, ClusterTarget, is_data_statement, on_cluster
from engine.store import Store, StoreConfig

log = logging.getLogger("clickport.migrations")

_FILE = re.compile(r"^(\d{4})_[\w-]+\.sql$")


def migration_files() -> list[tuple[int, str, str]]:
    """(version, file name, SQL text) for every migration shipped in the `schema` package."""
    found = []
    for entry in resources.files("schema").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def statements(sql: str) -> list[str]:
    """Split on lines holding only ';' (so a ';' inside a comment or string never splits)."""
    parts = re.split(r"^\s*;\s*$", sql, flags=re.MULTILINE)
    return [p.strip() for p in parts if _has_code(p)]


def _has_code(part: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in part.splitlines())


_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
    "ENGINE = ReplacingMergeTree ORDER BY version"
)
_RECORD = "INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})"


def apply_migrations(store: Store) -> list[str]:
    """Apply every migration not yet recorded. Each statement is itself idempotent, so a
    migration interrupted half-way is simply re-run in full next time. Returns the names applied
    (on a cluster: `name@shard.replica` for each node that applied it)."""
    if store.config.cluster:
        return apply_cluster_migrations(store)
    return _apply_node(store, lambda sql: [sql])


def _apply_node(store: Store, transform, label: str = "", data_statements: bool = True) -> list[str]:
    store.command(_MIGRATIONS_TABLE)
    done = {row[0] for row in store.rows("SELECT version FROM schema_migrations")}
    applied = []
    for version, name, sql in migration_files():
        mapped = [out for statement in statements(sql) for out in transform(statement)]
        if version in done:
            continue
        for i, statement in enumerate(mapped, start=1):
            # Data statements (INSERT, TRUNCATE, OPTIMIZE) on Replicated tables run on one replica
            # per shard: replication copies the result.
            if data_statements or not is_data_statement(statement):
                _run_logged(store, statement, f"{name}{label} ({i}/{len(mapped)})")
        store.command(_RECORD, parameters={"v": version, "n": name})
        log.info("applied migration %s%s", name, label)
        applied.append(name + label)
    return applied


def _run_logged(store: Store, statement: str, where: str) -> None:
    """Run one statement; an INSERT … SELECT (a backfill or copy, minutes on a large store) is
    announced before it starts and timed, so an upgrade's log shows what it is doing."""
    head = " ".join(line.strip() for line in statement.splitlines() if not line.strip().startswith("--"))
    if not head.upper().startswith("INSERT"):
        store.command(statement)
        return
    log.info("migration %s: %s …", where, head[:80])
    started = time.monotonic()
    store.command(statement)
    log.info("migration %s: done in %.1f s", where, time.monotonic() - started)


def apply_cluster_migrations(store: Store) -> list[str]:
    """Node by node, in shard/replica order, over every node of the configured cluster. A node
    that cannot be reached is skipped with a warning (it catches up on a later start); if no node
    can be migrated, the error is raised."""
    config = store.config
    applied: list[str] = []
    nodes = store.cluster_nodes()
    if config.on_cluster:
        return _apply_on_cluster(store, nodes)
    failed = 0
    for node in nodes:
        schema = ClusterSchema(ClusterTarget(config.cluster, store.database, config.replicated))
        try:
            node_store = Store(StoreConfig(dsn=node.dsn, pool_size=1, query_timeout_s=config.query_timeout_s,
                                           query_max_memory=config.query_max_memory))
        except Exception as exc:  # noqa: BLE001 - the node is down or unreachable
            failed += 1
            log.warning("cluster node %s:%d unreachable, migrations skipped there: %s",
                        node.host, node.http_port, exc)
            if failed == len(nodes):
                raise
            continue
        try:
            applied += _apply_node(node_store, schema.statements_for_node,
                                   label=f"@{node.shard}.{node.replica}",
                                   data_statements=not config.replicated or node.replica == 1)
        finally:
            node_store.close()
    return applied


def _apply_on_cluster(store: Store, nodes) -> list[str]:
    """With Keeper (CLICKPORT_ON_CLUSTER=1): schema statements run once, `ON CLUSTER`, through
    the node of `store`; data statements and the bookkeeping still node by node. Every node must
    be reachable. Not runnable on the chDB test cluster (no Keeper): its SQL is checked with
    formatQuery in tests/test_cluster_ddl.py."""
    config = store.config
    schema = ClusterSchema(ClusterTarget(config.cluster, store.database, config.replicated))
    node_stores = []
    try:
        for node in nodes:
            node_stores.append((node, Store(StoreConfig(dsn=node.dsn, pool_size=1,
                                                        query_timeout_s=config.query_timeout_s))))
        done = {}
        for node, node_store in node_stores:
            node_store.command(_MIGRATIONS_TABLE)
            done[node] = {row[0] for row in node_store.rows("SELECT version FROM schema_migrations")}
        applied = []
        for version, name, sql in migration_files():
            mapped = [out for statement in statements(sql) for out in schema.statements_for_node(statement)]
            missing = [(node, s) for node, s in node_stores if version not in done[node]]
            if not missing:
                continue
            for statement in mapped:
                if not is_data_statement(statement):
                    store.command(on_cluster(statement, config.cluster))
                    continue
                for node, node_store in missing:
                    if not config.replicated or node.replica == 1:
                        node_store.command(statement)
            for _, node_store in missing:
                node_store.command(_RECORD, parameters={"v": version, "n": name})
            log.info("applied migration %s on cluster %s (ON CLUSTER)", name, config.cluster)
            applied.append(f"{name}@{config.cluster}")
        return applied
    finally:
        for _, node_store in node_stores:
            node_store.close()

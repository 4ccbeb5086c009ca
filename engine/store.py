"""The ClickHouse store: embedded chDB or a server over HTTP, through one clickhouse-connect code path.

Each clickhouse-connect client holds one connection (for chDB, one engine handle behind a lock), so
a small pool of clients lets queries run in parallel threads; the engine releases the GIL while it
works. chdb is imported lazily by clickhouse-connect when the first client opens, which keeps it
after any fork (chDB is not fork-safe).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from engine.priority import BACKGROUND_SETTINGS, ENGINE_SERVER_SETTINGS

DEFAULT_DATA_DIR = os.path.join(os.getcwd(), "data")


def default_dsn(data_dir: str | None = None) -> str:
    return "chdb://" + os.path.abspath(os.path.join(data_dir or DEFAULT_DATA_DIR, "clickhouse"))


@dataclass(frozen=True)
class Node:
    """One ClickHouse node of a cluster, as system.clusters and the node itself describe it."""

    shard: int
    replica: int
    host: str
    http_port: int
    dsn: str


@dataclass(frozen=True)
class StoreConfig:
    dsn: str
    pool_size: int = 2
    query_timeout_s: float = 20.0
    query_max_memory: int = 2 * 1024**3
    # Fault drills: while this file exists, inserts fail as if the store were down.
    fault_insert_file: str | None = None
    # Cluster mode (server DSN only): the <remote_servers> cluster the tables are sharded over,
    # and whether its local tables are Replicated* (production, with Keeper). engine/cluster.py.
    cluster: str | None = None
    replicated: bool = False
    # Cluster mode with Keeper: schema DDL once with ON CLUSTER instead of node by node.
    on_cluster: bool = False

    def __post_init__(self):
        if self.cluster is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", self.cluster):
            raise ValueError("cluster: must be a cluster name from <remote_servers> (letters, digits, _)")
        if self.cluster and self.dsn.startswith("chdb://"):
            raise ValueError("cluster: cluster mode needs a ClickHouse server URL, not the embedded store")

    @property
    def embedded(self) -> bool:
        return self.dsn.startswith("chdb://")


class StoreError(Exception):
    """The store could not run a statement (unavailable, timeout, memory cap, bad SQL)."""


class QueryLimitError(StoreError):
    """A query hit its time or memory cap."""


_LIMIT_CODES = {"TIMEOUT_EXCEEDED", "MEMORY_LIMIT_EXCEEDED", "TOO_SLOW", "QUERY_WAS_CANCELLED"}


# Every statement of a cluster-mode client (e.g. the INSERT … SELECT of rollup maintenance): a
# subquery over a Distributed table inside IN / JOIN reads each shard's local table, exact because
# every table is sharded by session (engine/cluster.py). query_settings() says it again for reads.
CLUSTER_SETTINGS = {"distributed_product_mode": "local"}


def _open_client(dsn: str, settings: dict[str, Any] | None = None) -> Client:
    if dsn.startswith("chdb://"):
        os.makedirs(dsn[len("chdb://"):], exist_ok=True)
        return clickhouse_connect.get_client(dsn=dsn, chdb_options=ENGINE_SERVER_SETTINGS)
    database = urlparse(dsn).path.strip("/")
    if database and database != "default":
        # Create the database on first use so a fresh server needs no manual step.
        bootstrap = clickhouse_connect.get_client(dsn=urlparse(dsn)._replace(path="").geturl())
        bootstrap.command(f"CREATE DATABASE IF NOT EXISTS `{database.replace('`', '')}`")
        bootstrap.close()
    return clickhouse_connect.get_client(dsn=dsn, settings=settings or None)


# Write counters of embedded stores, by DSN (every Store object of one chDB store shares one).
_SHARED_WRITES: dict[str, list[int]] = {}


class Store:
    """A pool of clients with sync and async (thread-offloaded) helpers.

    Time values: chDB returns DateTime64('UTC') values naive while a server returns them aware;
    every datetime that leaves the store is normalized to an aware UTC datetime.
    """

    def __init__(self, config: StoreConfig):
        self.config = config
        self._pool: queue.LifoQueue[Client] = queue.LifoQueue()
        self._clients: list[Client] = []
        self._lock = threading.Lock()
        self._closed = False
        # Completed writes (inserts and commands) through this store: a cache of what the store
        # holds is current while this number has not moved — in embedded mode, where this process
        # is the only writer (engine.query.run's rollup-state cache). Counted per embedded store,
        # not per Store object: the server writes events through a Store of its own.
        self._writes = _SHARED_WRITES.setdefault(config.dsn, [0]) if config.embedded else [0]
        self._pool.put(self._new_client())

    @property
    def writes(self) -> int:
        return self._writes[0]

    @writes.setter
    def writes(self, value: int) -> None:
        self._writes[0] = value

    def _new_client(self) -> Client:
        client = _open_client(self.config.dsn, CLUSTER_SETTINGS if self.config.cluster else None)
        self._clients.append(client)
        return client

    @contextmanager
    def client(self) -> Iterator[Client]:
        if self._closed:
            raise StoreError("store is closed")
        try:
            client = self._pool.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = len(self._clients) < self.config.pool_size
                client = self._new_client() if grow else None
            if client is None:
                client = self._pool.get()
        try:
            yield client
        finally:
            self._pool.put(client)

    @property
    def database(self) -> str:
        if self.config.embedded:
            return "default"
        return urlparse(self.config.dsn).path.strip("/") or "default"

    def cluster_nodes(self) -> list[Node]:
        """Every node of the configured cluster: shard and replica numbers and host from
        system.clusters, each node's own HTTP port asked from the node (it may differ per node);
        user, password and database as in this store's DSN."""
        cluster = self.config.cluster
        if not cluster:
            raise StoreError("cluster_nodes: no cluster configured")
        members = self.rows(
            "SELECT shard_num, replica_num, host_name, port FROM system.clusters "
            "WHERE cluster = {c:String} ORDER BY shard_num, replica_num", {"c": cluster})
        if not members:
            raise StoreError(f"cluster {cluster!r} is not in system.clusters (<remote_servers>)")
        # The cluster name passed the StoreConfig check (a plain identifier).
        ports = {(shard, tcp): http for shard, http, tcp in self.rows(
            f"SELECT * FROM clusterAllReplicas('{cluster}', view(SELECT shardNum(), "
            "getServerPort('http_port'), getServerPort('tcp_port')))")}
        base = urlparse(self.config.dsn)
        nodes = []
        for shard, replica, host, tcp in members:
            http = ports.get((shard, tcp), base.port or 8123)
            auth = base.netloc.rsplit("@", 1)[0] + "@" if "@" in base.netloc else ""
            host_part = f"[{host}]" if ":" in host else host
            dsn = base._replace(netloc=f"{auth}{host_part}:{http}").geturl()
            nodes.append(Node(shard, replica, host, http, dsn))
        return nodes

    def query_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "max_execution_time": self.config.query_timeout_s,
            "max_memory_usage": self.config.query_max_memory,
        }
        if self.config.cluster:
            # A subquery over a Distributed table inside IN / JOIN reads each shard's local table:
            # exact because every table is sharded by session (engine/cluster.py), so the rows a
            # subquery matches for a session are on the same shard as the session.
            settings["distributed_product_mode"] = "local"
        return settings

    # --- synchronous API (used from threads, the CLI bootstrap and tests) -----------------

    def command(self, sql: str, parameters: dict[str, Any] | None = None,
                settings: dict[str, Any] | None = None) -> Any:
        try:
            with self.client() as client:
                return _wrap(lambda: client.command(sql, parameters=parameters, settings=settings))
        finally:
            self._writes[0] += 1

    def rows(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> list[tuple]:
        with self.client() as client:
            result = _wrap(
                lambda: client.query(sql, parameters=parameters, settings=settings)
            )
        return [tuple(_normalize(v) for v in row) for row in result.result_rows]

    def dicts(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        with self.client() as client:
            result = _wrap(
                lambda: client.query(sql, parameters=parameters, settings=settings)
            )
        names = result.column_names
        return [
            {name: _normalize(v) for name, v in zip(names, row, strict=True)} for row in result.result_rows
        ]

    def insert_columns(
        self,
        table: str,
        columns: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        dedup_token: str | None = None,
    ) -> None:
        settings = self._insert_settings(dedup_token)
        self._write(lambda client: client.insert(
            table, columns, column_names=list(column_names), column_oriented=True, settings=settings))

    def _insert_settings(self, dedup_token: str | None) -> dict[str, Any]:
        """The fault switch (tests, drills), and the deduplication token that lets a retried batch
        be recognised and skipped — in the table and in every materialized view's target. Every
        insert is background work (spool → store, imports, registry rows): engine.priority."""
        if self.config.fault_insert_file and os.path.exists(self.config.fault_insert_file):
            raise StoreError(f"injected fault: {self.config.fault_insert_file} exists")
        if not dedup_token:
            return dict(BACKGROUND_SETTINGS)
        return {"insert_deduplication_token": dedup_token,
                "deduplicate_blocks_in_dependent_materialized_views": 1, **BACKGROUND_SETTINGS}

    def _write(self, call) -> None:
        try:
            with self.client() as client:
                _wrap(lambda: call(client))
        finally:
            self._writes[0] += 1

    def insert_raw(
        self,
        table: str,
        data: bytes,
        column_names: Sequence[str],
        fmt: str,
        dedup_token: str | None = None,
    ) -> None:
        """Insert rows already encoded in a ClickHouse input format (`fmt`, e.g.
        JSONCompactEachRow): the engine parses them, no Python value conversion."""
        settings = self._insert_settings(dedup_token)
        self._write(lambda client: client.raw_insert(
            table, list(column_names), insert_block=data, settings=settings, fmt=fmt))

    # --- async API: the same calls, run in a worker thread ----------------------------------

    async def arows(self, sql: str, parameters: dict[str, Any] | None = None,
                    settings: dict[str, Any] | None = None) -> list[tuple]:
        return await asyncio.to_thread(self.rows, sql, parameters, settings)

    async def adicts(self, sql: str, parameters: dict[str, Any] | None = None,
                     settings: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.dicts, sql, parameters, settings)

    async def acommand(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return await asyncio.to_thread(self.command, sql, parameters)

    def close(self) -> None:
        self._closed = True
        for client in self._clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing is best effort at shutdown
                pass
        self._clients.clear()


def _wrap(call):
    try:
        return call()
    except StoreError:
        raise
    except Exception as exc:  # clickhouse-connect raises several families; name the cause
        text = str(exc)
        if any(code in text for code in _LIMIT_CODES):
            raise QueryLimitError(text.splitlines()[0][:500]) from exc
        raise StoreError(text.splitlines()[0][:500] if text else type(exc).__name__) from exc


def _normalize(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    return value

"""Local ClickHouse servers from the chDB engine: one node per process, HTTP + native TCP.

chDB's `chdb._chdb.query()` runs clickhouse-local's own main, which can open the server listeners
(`SYSTEM START LISTEN TCP/HTTP`) configured by the `config.xml` in the *current directory*; the
listeners live only while that call runs, so a node runs a blocking statement after them. One
engine per process, hence one process per node (docs/deploy.md, "Local servers without Docker").

- `write_node_config(folder, ...)` writes `config.xml` + `users.xml` for one node (optionally a
  member of a cluster: `<remote_servers>` and `<macros>`).
- `run_node(folder)` is the node process itself (`python -m engine.chserver run FOLDER`).
- `ChNode` starts such a process on free loopback ports, waits for `/ping`, stops it by its PID.
- `start_single(base)` / `start_cluster(base, name, shards)` start a server or an N-shard cluster.

CLI: `python -m engine.chserver single DIR` or `python -m engine.chserver cluster DIR --shards 2`
starts nodes, prints their HTTP URLs and runs until interrupted (Ctrl-C stops every node).

This relies on an internal chDB function: the chdb / chdb-core versions are pinned in pyproject.toml.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from engine.priority import ENGINE_SERVER_SETTINGS

LOOPBACK = "127.0.0.1"
# A node serves for at most this long, then exits by itself (a test run never leaves one behind).
DEFAULT_LIFETIME_S = 24 * 3600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Member:
    """One node of a cluster as the others see it."""

    host: str
    tcp_port: int
    shard: int
    replica: int = 1


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    members: tuple[Member, ...] = field(default_factory=tuple)
    database: str = "clickport"

    def shards(self) -> dict[int, list[Member]]:
        grouped: dict[int, list[Member]] = {}
        for member in self.members:
            grouped.setdefault(member.shard, []).append(member)
        return dict(sorted(grouped.items()))


def remote_servers_xml(cluster: ClusterSpec, user: str = "default", password: str = "",
                       database: str = "clickport") -> str:
    shards = []
    for _, members in cluster.shards().items():
        replicas = "".join(
            f"<replica><host>{escape(m.host)}</host><port>{m.tcp_port}</port>"
            f"<user>{escape(user)}</user><password>{escape(password)}</password>"
            f"<default_database>{escape(database)}</default_database></replica>"
            for m in members
        )
        shards.append(f"<shard><internal_replication>true</internal_replication>{replicas}</shard>")
    return f"<remote_servers><{cluster.name}>{''.join(shards)}</{cluster.name}></remote_servers>"


def write_node_config(folder: str, http_port: int, tcp_port: int, cluster: ClusterSpec | None = None,
                      shard: int = 1, replica: int = 1) -> None:
    """config.xml + users.xml for one node. Distributed inserts are synchronous (the default
    profile sets `distributed_foreground_insert`), so an acknowledged insert is on its shard."""
    os.makedirs(os.path.join(folder, "data"), exist_ok=True)
    cluster_xml = remote_servers_xml(cluster, database=cluster.database) if cluster else ""
    macros = (f"<macros><cluster>{cluster.name}</cluster><shard>{shard:02d}</shard>"
              f"<replica>r{replica}</replica></macros>") if cluster else ""
    engine_settings = "".join(f"<{name}>{value}</{name}>" for name, value in ENGINE_SERVER_SETTINGS.items())
    config = f"""<clickhouse>
    <listen_host>{LOOPBACK}</listen_host>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <users_config>users.xml</users_config>
    <logger><level>warning</level><console>1</console></logger>
    {engine_settings}
    {cluster_xml}
    {macros}
</clickhouse>
"""
    users = """<clickhouse>
    <profiles>
        <default>
            <distributed_foreground_insert>1</distributed_foreground_insert>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
            <access_management>1</access_management>
        </default>
    </users>
    <quotas><default></default></quotas>
</clickhouse>
"""
    with open(os.path.join(folder, "config.xml"), "w", encoding="utf-8") as handle:
        handle.write(config)
    with open(os.path.join(folder, "users.xml"), "w", encoding="utf-8") as handle:
        handle.write(users)


def run_node(folder: str, lifetime_s: int = DEFAULT_LIFETIME_S) -> None:
    """The node process: serve until SIGTERM (or `lifetime_s`). Never returns normally before."""
    import chdb._chdb as engine  # the internal entry point that can open listeners

    os.chdir(folder)  # config.xml is read from the current directory
    sql = ("SYSTEM START LISTEN TCP; SYSTEM START LISTEN HTTP; "
           f"SELECT sleepEachRow(1) FROM numbers({int(lifetime_s)}) "
           "SETTINGS max_block_size = 1, max_execution_time = 0 FORMAT Null")
    # TSV becomes the HTTP interface's default format (clickhouse-connect's handshake needs it).
    engine.query(sql, "TSV", path=os.path.join(folder, "data"))


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the process that started it dies (a test run
    killed before its fixtures' teardown leaves no node behind). Linux only; elsewhere a no-op."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class ChNode:
    """One local ClickHouse node (a child process running `run_node`)."""

    def __init__(self, folder: str, cluster: ClusterSpec | None = None, shard: int = 1,
                 replica: int = 1, http_port: int | None = None, tcp_port: int | None = None):
        self.folder = os.path.abspath(folder)
        self.http_port = http_port or free_port()
        self.tcp_port = tcp_port or free_port()
        self.cluster = cluster
        self.shard = shard
        self.replica = replica
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    def dsn(self, database: str = "default") -> str:
        return f"{self.url}/{database}"

    @property
    def log_path(self) -> str:
        return os.path.join(self.folder, "node.log")

    def write_config(self) -> None:
        write_node_config(self.folder, self.http_port, self.tcp_port, self.cluster, self.shard, self.replica)

    def start(self) -> ChNode:
        self.write_config()
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.chserver", "run", self.folder],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            preexec_fn=_die_with_parent,
        )
        log.close()
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/ping", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> ChNode:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"node {self.folder} exited ({self.proc.returncode}):\n{self.log()}")
            if self.ready():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"node {self.folder} not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-4000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM by PID, then SIGKILL if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def execute(self, sql: str) -> str:
        """Run one statement over HTTP (harness use: no parameters, trusted SQL)."""
        request = urllib.request.Request(self.url + "/", data=sql.encode(), method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode()

    def member(self) -> Member:
        return Member(LOOPBACK, self.tcp_port, self.shard, self.replica)


def start_single(base: str) -> ChNode:
    return ChNode(os.path.join(base, "node1")).start().wait_ready()


def start_cluster(base: str, name: str = "clickport", shards: int = 2,
                  database: str = "clickport") -> list[ChNode]:
    """`shards` nodes (one replica each) that all know the cluster `name`; `database` is the
    remote queries' default database (the one the app's DSN names)."""
    ports = [(free_port(), free_port()) for _ in range(shards)]
    spec = ClusterSpec(name, tuple(Member(LOOPBACK, tcp, i + 1) for i, (_, tcp) in enumerate(ports)),
                       database)
    nodes = [ChNode(os.path.join(base, f"shard{i + 1}"), spec, shard=i + 1, http_port=http, tcp_port=tcp)
             for i, (http, tcp) in enumerate(ports)]
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_ready()
            # Each <replica> names `database` as its default database (remote subqueries resolve
            # unqualified tables there), so it must exist on every node before any remote query.
            node.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    except Exception:
        stop_all(nodes)
        raise
    return nodes


def stop_all(nodes: list[ChNode], remove: str | None = None) -> None:
    for node in nodes:
        node.stop()
    if remove:
        shutil.rmtree(remove, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m engine.chserver", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="serve one node from FOLDER/config.xml (the node process)")
    run.add_argument("folder")
    run.add_argument("--lifetime", type=int, default=DEFAULT_LIFETIME_S)
    single = sub.add_parser("single", help="start one local server and wait")
    single.add_argument("folder")
    cluster = sub.add_parser("cluster", help="start an N-shard local cluster and wait")
    cluster.add_argument("folder")
    cluster.add_argument("--name", default="clickport")
    cluster.add_argument("--shards", type=int, default=2)
    args = parser.parse_args(argv)
    if args.cmd == "run":
        run_node(os.path.abspath(args.folder), args.lifetime)
        return
    nodes = ([start_single(args.folder)] if args.cmd == "single"
             else start_cluster(args.folder, args.name, args.shards))
    for node in nodes:
        print(f"node {node.folder}: {node.url} (native TCP {node.tcp_port}, pid {node.proc.pid})", flush=True)
    if args.cmd == "cluster":
        print(f"CLICKPORT_CLUSTER={args.name} "
              f"CLICKPORT_CLICKHOUSE_URL={nodes[0].dsn('clickport')}", flush=True)
    try:
        while all(node.proc.poll() is None for node in nodes):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop_all(nodes)


if __name__ == "__main__":
    main()

"""docker-compose.cluster.yml and deploy/cluster/: what can be checked without Docker.

`docker compose config` cannot run here (no Docker engine): the YAML and every XML config must
parse, every mounted file must exist, and names and ports must agree across the files (services
named in <remote_servers>, <zookeeper>, Keeper's raft list, the load balancer and the app URLs)."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlparse

import pytest
import yaml

pytestmark = pytest.mark.cluster

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def compose() -> dict:
    with open(os.path.join(ROOT, "docker-compose.cluster.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _xml(path: str) -> ET.Element:
    return ET.parse(os.path.join(ROOT, path)).getroot()


def _mounts(service: dict) -> dict[str, str]:
    """container path → repository path of every bind-mounted file."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            out[target] = source[2:]
    return out


def _by_role(compose: dict) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {"keeper": [], "clickhouse": [], "app": [], "lb": []}
    for name, service in compose["services"].items():
        image = str(service.get("image", ""))
        role = ("keeper" if "keeper" in image else "clickhouse" if "clickhouse-server" in image
                else "lb" if "haproxy" in image else "app" if "build" in service else None)
        assert role, f"service {name}: unknown role"
        roles[role].append(name)
    return roles


def test_services_and_shape(compose):
    roles = _by_role(compose)
    assert len(roles["keeper"]) == 3 and len(roles["clickhouse"]) == 4
    assert len(roles["app"]) == 2 and len(roles["lb"]) == 1
    names = set(compose["services"])
    for name, service in compose["services"].items():
        depends = service.get("depends_on", [])
        assert set(depends) <= names, f"{name} depends on an unknown service"
        for source in _mounts(service).values():
            assert os.path.isfile(os.path.join(ROOT, source)) or source.endswith("secret.key"), source
            if source.endswith(".xml"):
                _xml(source)  # parses
    assert set(compose["volumes"]) >= {v.split(":")[0] for s in compose["services"].values()
                                       for v in s.get("volumes", []) if not v.startswith("./")}


def test_remote_servers_macros_and_keepers_agree(compose):
    roles = _by_role(compose)
    services = compose["services"]
    cluster_files = {_mounts(services[n])["/etc/clickhouse-server/config.d/cluster.xml"]
                     for n in roles["clickhouse"]}
    assert len(cluster_files) == 1
    config = _xml(cluster_files.pop())
    [cluster] = list(config.find("remote_servers"))
    shards = [[(r.findtext("host"), int(r.findtext("port"))) for r in shard.findall("replica")]
              for shard in cluster.findall("shard")]
    assert [len(s) for s in shards] == [2, 2]
    assert sorted(h for shard in shards for h, _ in shard) == sorted(roles["clickhouse"])
    assert {port for shard in shards for _, port in shard} == {9000}  # the native port of the image
    assert all(shard.findtext("internal_replication") == "true" for shard in cluster.findall("shard"))
    # Each server's macros (from its environment) match its place in <remote_servers>.
    assert config.find("macros/shard").get("from_env") == "CLICKHOUSE_SHARD"
    assert config.find("macros/replica").get("from_env") == "CLICKHOUSE_REPLICA"
    for index, shard in enumerate(shards, start=1):
        for host, _ in shard:
            env = services[host]["environment"]
            assert int(env["CLICKHOUSE_SHARD"]) == index and env["CLICKHOUSE_REPLICA"] == host
    # Keeper: the servers' <zookeeper> list, Keeper's raft list and the keeper services agree.
    zk = [(n.findtext("host"), int(n.findtext("port"))) for n in config.find("zookeeper")]
    keeper_files = {_mounts(services[n])["/etc/clickhouse-keeper/keeper_config.xml"] for n in roles["keeper"]}
    assert len(keeper_files) == 1
    keeper = _xml(keeper_files.pop()).find("keeper_server")
    raft = [(int(s.findtext("id")), s.findtext("hostname")) for s in keeper.find("raft_configuration")]
    assert sorted(h for h, _ in zk) == sorted(h for _, h in raft) == sorted(roles["keeper"])
    assert {p for _, p in zk} == {int(keeper.findtext("tcp_port"))}
    assert keeper.find("server_id").get("from_env") == "KEEPER_SERVER_ID"
    assert sorted(int(services[h]["environment"]["KEEPER_SERVER_ID"]) for h in roles["keeper"]) == \
        sorted(i for i, _ in raft)


def test_apps_and_load_balancer_agree(compose):
    roles = _by_role(compose)
    services = compose["services"]
    config = _xml("deploy/cluster/clickhouse/cluster.xml")
    cluster_name = list(config.find("remote_servers"))[0].tag
    homes = set()
    for name in roles["app"]:
        env = services[name]["environment"]
        assert env["CLICKPORT_CLUSTER"] == cluster_name and env["CLICKPORT_REPLICATED"] == "1"
        url = urlparse(env["CLICKPORT_CLICKHOUSE_URL"])
        assert url.hostname in roles["clickhouse"] and url.port == 8123 and url.path == "/clickport"
        homes.add(url.hostname)
        assert env["CLICKPORT_SECRET_FILE"] == "/run/secrets/clickport_secret"
        assert services[name]["secrets"] == ["clickport_secret"]
    assert len(homes) == 2  # the app nodes spread over the shards
    [lb] = roles["lb"]
    with open(os.path.join(ROOT, _mounts(services[lb])["/usr/local/etc/haproxy/haproxy.cfg"])) as handle:
        haproxy = handle.read()
    assert re.search(r"^\s*balance source\s*$", haproxy, re.M)
    assert re.search(r"^\s*hash-type consistent\s*$", haproxy, re.M)
    servers = re.findall(r"^\s*server \S+ (\S+):(\d+)", haproxy, re.M)
    assert sorted(h for h, _ in servers) == sorted(roles["app"]) and {p for _, p in servers} == {"8000"}
    bind = re.search(r"^\s*bind \*:(\d+)", haproxy, re.M).group(1)
    assert services[lb]["ports"] == [f"127.0.0.1:{bind}:{bind}"]

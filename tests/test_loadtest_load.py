"""The HTTP load driver's accounting on a small bounded run against a real server process."""

from __future__ import annotations

import os
import shutil

import pytest

from loadtest.load import (
    LoadOptions,
    SiteKey,
    account,
    build_pool,
    check_loopback,
    count_in_store,
    run_load,
    start_clickport,
    write_wrk_script,
)
from loadtest.model import ModelConfig, TrafficModel


def test_accounting_rules():
    run = {"stored_acks": 100, "dropped_acks": 3}
    before = {"accepted": 10, "inserted": 10, "pending": 0, "dropped": {"bot": 1}}
    after = {"accepted": 118, "inserted": 118, "pending": 0, "dropped": {"bot": 3, "dnt": 1}}
    acc = account(run, before, after, connections=8)
    assert acc["ok"] and acc["unacknowledged_accepted"] == 8
    assert acc["server_dropped_delta"] == {"bot": 2, "dnt": 1}
    assert not account(run, before, {**after, "inserted": 117}, 8)["ok"]       # an accepted event lost
    assert not account(run, before, {**after, "accepted": 109, "inserted": 109}, 8)["ok"]  # an ack not stored
    assert not account(run, before, {**after, "pending": 1}, 8)["ok"]


def test_only_loopback_targets():
    check_loopback("http://127.0.0.1:8000")
    with pytest.raises(SystemExit):
        check_loopback("http://example.com:8000")


def test_wrk_script_carries_the_pool_and_engagement_plans(tmp_path):
    model = TrafficModel(ModelConfig(sites=1))
    pool = build_pool(model, [SiteKey(model.sites[0].domain, "ck_x", 1.0)], 50, seed=1)
    path = write_wrk_script(pool, str(tmp_path / "load.lua"), threads=1, connections=4, rate=100)
    text = open(path).read()
    assert "function delay()" in text and '"page_visit_id":"%s"' in text
    data = open(path + ".pool").read().splitlines()
    requests = [line.split("\t") for line in data if line.startswith("R\t")]
    assert len(requests) == len(pool) and any(r[4] not in ("-", "") for r in requests)
    assert any("X-Forwarded-For" in line for line in data if line.startswith("H\t"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("load-server"))
    proc = start_clickport(data_dir, "test-load-token-0123", env={"CLICKPORT_FLUSH_INTERVAL_S": "0.05"})
    yield proc, data_dir
    if proc.proc.poll() is None:
        proc.terminate()


def _drivers() -> list[str]:
    return ["asyncio", "wrk"] if shutil.which("wrk") else ["asyncio"]


def test_server_metrics_histograms_move_with_the_requests(server):
    """loadtest.servermetrics (used by `loadtest load` and the drills): what a histogram observed
    between two scrapes, for one route and status class, and the bucket bound of a percentile."""
    import httpx

    from loadtest import servermetrics

    proc, _ = server
    name = "clickport_http_request_duration_seconds"
    before = servermetrics.scrape(proc.base)
    for _ in range(3):
        assert httpx.get(proc.base + "/healthz").status_code == 200
    after = servermetrics.scrape(proc.base)
    run = servermetrics.moved(servermetrics.buckets(before, name, route="/healthz", status="2xx"),
                              servermetrics.buckets(after, name, route="/healthz", status="2xx"))
    assert run[-1] == (servermetrics.INF, 3.0)  # three answered, whatever else was scraped
    assert [le for le, _ in run] == sorted(le for le, _ in run)
    assert 0 < servermetrics.bound(run, 0.99) < servermetrics.INF
    assert servermetrics.bound(servermetrics.moved(run, run), 0.5) is None  # nothing observed
    assert servermetrics.scrape("http://127.0.0.1:9") == {}  # unreachable: no view, no error


def test_a_target_rate_is_paced_open_loop(server):
    """--rate: both drivers send on a wall-clock schedule (the asyncio driver one slot per
    request, wrk's script one per request of each thread), so the rate asked is the rate sent."""
    proc, data_dir = server
    for driver in _drivers():
        opts = LoadOptions(data_dir=data_dir, url=proc.base, admin_token="test-load-token-0123",
                           duration=2.0, warmup=0.3, connections=8, driver=driver, rate=150,
                           visits=300, log=lambda *_: None)
        run = run_load(opts)["runs"]["ingest"]
        assert 120 <= run["requests_per_s"] <= 165, (driver, run["requests_per_s"])
        assert run["accounting"]["ok"], (driver, run["accounting"])


def test_every_acknowledged_event_is_stored(server):
    proc, data_dir = server
    total_accepted = 0
    for driver in _drivers():
        opts = LoadOptions(data_dir=data_dir, url=proc.base, admin_token="test-load-token-0123", duration=1.5,
                           warmup=0.3, connections=8, driver=driver, visits=300, log=lambda *_: None)
        result = run_load(opts)
        run = result["runs"]["ingest"]
        acc = run["accounting"]
        assert acc["ok"], (driver, acc)
        assert run["requests"] >= 20 and run["error_count"] == 0, (driver, run["codes"])
        assert acc["acknowledged_stored"] > 0 and acc["acknowledged_dropped"] >= 0
        assert run["latency_ms"]["p50"] > 0 and run["timeline"]
        # The server's own view (/metrics before and after): every answered event was timed.
        side = run["server_side"]
        assert run["ok"] <= side["event_requests"] <= run["ok"] + 8, (driver, side, run["ok"])
        assert 0 < side["handler_p50_ms_at_most"] <= side["handler_p99_ms_at_most"]
        assert side["spool_appends"] >= 1 and side["spool_append_p99_ms_at_most"] > 0
        total_accepted += acc["server_accepted_delta"]
    status_accepted = __import__("loadtest.load", fromlist=["writer_status"]).writer_status(
        proc.base, "test-load-token-0123")["accepted"]
    proc.terminate()
    # After shutdown the store holds exactly what the server accepted (warm-ups included).
    assert count_in_store(data_dir, None) == status_accepted >= total_accepted
    assert os.path.exists(os.path.join(data_dir, "clickhouse"))


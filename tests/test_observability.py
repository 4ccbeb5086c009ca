"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import re

from tests.conftest import send, wait_flushed


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["schema"] >= 1


def test_metrics_count_events_and_time_routes(client, app, new_site):
    site = new_site()
    before = client.get("/metrics").text
    send(client, site)
    send(client, site, headers={"DNT": "1"})
    wait_flushed(app)
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text

    def grew(name: str) -> float:
        return _metric(text, name) - _metric(before, name)

    assert grew("clickport_events_accepted_total") == 1
    assert grew("clickport_events_stored_total") >= 1
    assert grew("clickport_events_dropped_dnt_total") == 1
    assert _metric(text, "clickport_events_pending") == 0
    assert 'clickport_http_request_duration_seconds_count{route="/api/event",status="2xx"}' in text
    assert _metric(text, "clickport_spool_commit_seconds_count") >= 1  # the accepted event's fsync
    assert "clickport_insert_duration_seconds_count" in text


def test_loop_lag_and_gc_pauses_are_measured(client):
    import asyncio
    import gc
    import time

    from engine.metrics import Metrics
    from server.loopwatch import LoopWatch

    watch = LoopWatch(Metrics())

    async def stall_once() -> None:
        task = asyncio.create_task(watch.run())
        await asyncio.sleep(0.12)
        time.sleep(0.3)  # holds the loop: the next tick wakes ~0.3 s late
        await asyncio.sleep(0.12)
        gc.collect()
        task.cancel()

    asyncio.run(stall_once())
    assert watch.lag_max >= 0.2
    assert watch.gc_count[2] >= 1 and watch.gc_max[2] > 0
    assert watch.by_thread["loop"][0] >= 1  # the collection above ran on the loop's thread
    text = watch.metrics.render()
    assert "clickport_event_loop_lag_seconds_count" in text and "clickport_gc_pause_gen2_seconds_max" in text
    # The running server exports them too.
    served = client.get("/metrics").text
    for name in ("clickport_event_loop_lag_max_seconds", "clickport_gc_collections_gen0_total"):
        assert name in served

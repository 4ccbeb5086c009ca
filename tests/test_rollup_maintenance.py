"""Rollup maintenance keeps answers exact while sessions change after they start: late events, a
session continued past midnight, a later pageview that changes a session's exit page (a value that
must vanish from the rollup), a seal interrupted half-way, and SIGKILL during maintenance."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from engine.query.parse import parse_query
from engine.query.run import coverage, resolve, run_query_sync
from engine.rollups import read_state, seal_all, seal_days
from tests.query_support import Visitor, flush, make_site, rollup_and_raw

NOW = dt.datetime(2026, 10, 9, 12, 0, tzinfo=dt.UTC)
RANGE = {"start": "2026-10-04", "end": "2026-10-08"}
DAY = dt.date(2026, 10, 5)


def both(store, site, body):
    """(answer with the rollup, answer from raw data only, whether the rollup was used)"""
    query = parse_query(body)
    used = coverage(store, site, query, resolve(query, NOW, None))
    fast, slow = rollup_and_raw(store, site, body, NOW)
    return fast, slow, used


def _used_day(cov, day) -> bool:
    return cov is not None and day in cov.days


@pytest.fixture
def site_visits(app, client, admin_headers):
    site = make_site(client, admin_headers)
    a = Visitor(client, site, country="GB")
    a.pageview("2026-10-05 10:00:00", "/a")
    a.pageview("2026-10-05 10:05:00", "/b")
    b = Visitor(client, site, country="SE")
    b.pageview("2026-10-05 11:00:00", "/a")
    c = Visitor(client, site, country="US")
    c.pageview("2026-10-06 09:00:00", "/x")
    flush(app)
    reg_site = app.state.registry.site(site.site_id)
    seal_all(app.state.store, [(site.site_id, site.timezone)])
    return app.state.store, reg_site, (a, b, c)


BODIES = [
    {"metrics": ["visitors", "sessions", "pageviews", "bounce_rate", "views_per_visit", "avg_duration"],
     "date_range": RANGE},
    {"metrics": ["sessions", "visitors", "bounce_rate"], "dimensions": ["exit_page"], "date_range": RANGE},
    {"metrics": ["sessions", "bounce_rate"], "dimensions": ["entry_page"], "date_range": RANGE},
    {"metrics": ["visitors", "pageviews"], "dimensions": ["page"], "date_range": RANGE},
    {"metrics": ["visitors", "pageviews", "sessions"], "dimensions": ["date"], "date_range": RANGE},
    {"metrics": ["visitors", "sessions", "pageviews"], "dimensions": ["country"], "date_range": RANGE},
    # a pair of dimensions (rollup_pairs) and a page directory (rollup key page_dir)
    {"metrics": ["visitors", "sessions", "bounce_rate"], "dimensions": ["country"], "date_range": RANGE,
     "filters": [{"dimension": "device", "operator": "is", "value": "Desktop"}]},
    {"metrics": ["visitors", "pageviews", "bounce_rate"], "date_range": RANGE,
     "filters": [{"dimension": "page", "operator": "starts_with", "value": "/"}]},
]


def _all_equal(store, site, expect_used: bool | None = None):
    for body in BODIES:
        fast, slow, used = both(store, site, body)
        assert fast == slow, body
        if expect_used is not None:
            assert _used_day(used, DAY) is expect_used, (body, used)


def test_sealed_days_answer_from_the_rollup_and_equal_raw(site_visits):
    store, site, _ = site_visits
    _all_equal(store, site, expect_used=True)


def test_late_event_is_visible_at_once_and_after_the_reseal(app, site_visits):
    store, site, (a, _, _) = site_visits
    # a later pageview of a's session: its exit page changes from /b to /c (the /b row must vanish)
    a.pageview("2026-10-05 10:20:00", "/c")
    flush(app)
    _all_equal(store, site, expect_used=False)  # the day is dirty: raw data answers, exactly
    exits = run_query_sync(store, site, BODIES[1], now=NOW)["results"]
    assert {r["exit_page"] for r in exits} == {"/a", "/c", "/x"}
    seal_all(store, [(site.site_id, site.timezone)])
    _all_equal(store, site, expect_used=True)
    exits = run_query_sync(store, site, BODIES[1], now=NOW)["results"]
    assert {r["exit_page"]: r["sessions"] for r in exits} == {"/a": 1, "/c": 1, "/x": 1}


def test_backfill_into_an_old_day_and_a_session_continued_past_midnight(app, site_visits):
    store, site, (_, b, c) = site_visits
    c.new_session().pageview("2026-10-04 15:00:00", "/old")  # a backfill: 2026-10-04 had no data
    b.pageview("2026-10-05 23:55:00", "/late")          # b's session, continued by id...
    b.pageview("2026-10-06 00:10:00", "/after-midnight")  # ...into the next day
    flush(app)
    _all_equal(store, site, expect_used=False)
    seal_all(store, [(site.site_id, site.timezone)])
    body = {"metrics": ["sessions", "pageviews", "bounce_rate", "avg_duration"], "date_range": RANGE}
    fast, slow, used = both(store, site, body)
    assert fast == slow and used is not None and {dt.date(2026, 10, 4), DAY} <= set(used.days)
    body = {"metrics": ["visitors", "sessions"], "date_range": RANGE}
    fast, slow, _ = both(store, site, body)
    # b's id is carried past midnight (SPEC §2): the day sums count it on both days
    assert fast["results"]["sessions"] == slow["results"]["sessions"] == 4
    assert slow["results"]["visitors"] <= fast["results"]["visitors"] <= slow["results"]["visitors"] + 1


def test_a_seal_interrupted_half_way_leaves_answers_exact(app, site_visits):
    store, site, (a, _, _) = site_visits
    a.pageview("2026-10-05 10:30:00", "/d")
    flush(app)
    state = read_state(store, site.site_id, site.timezone, DAY, DAY)

    def fail(step: str) -> None:
        if step == "rows:page":
            raise RuntimeError("killed mid-seal")

    with pytest.raises(RuntimeError):
        seal_days(store, site.site_id, site.timezone, [DAY], state.touched, fault=fail)
    _all_equal(store, site, expect_used=False)  # some rows are new, the seal is not recorded
    seal_all(store, [(site.site_id, site.timezone)])
    _all_equal(store, site, expect_used=True)


def test_migration_0005_sends_days_sealed_without_pairs_back_to_raw_data(app, site_visits):
    """A store sealed before rollup_pairs existed has no pair rows: the migration's state rows make
    every sealed day dirty, so pair queries read raw data until the maintenance job reseals."""
    from engine.migrations import migration_files, statements

    store, site, _ = site_visits
    pair = BODIES[-2]
    _, _, used = both(store, site, pair)
    assert _used_day(used, DAY)
    sql = next(text for _, name, text in migration_files() if name == "0005_rollup_pairs.sql")
    invalidate = [s for s in statements(sql) if "INSERT INTO rollup_state" in s]
    assert len(invalidate) == 1
    store.command("TRUNCATE TABLE rollup_pairs_v2")  # as before the migration: no pair rows
    store.command(invalidate[0])
    for body in BODIES:
        fast, slow, used = both(store, site, body)
        assert not _used_day(used, DAY) and fast == slow, body
    seal_all(store, [(site.site_id, site.timezone)])
    _all_equal(store, site, expect_used=True)


def test_migration_0013_moves_sealed_pairs_to_the_value_first_table(app, site_visits):
    """A store sealed before 0013 holds its pair rows in rollup_pairs (day before value): 0013 copies
    them, versions and all, into rollup_pairs_v2 — twice if interrupted and re-run — and 0014 drops
    the old table; the sealed days keep answering from the rollup, exactly."""
    from engine.migrations import migration_files, statements

    store, site, _ = site_visits
    pair = BODIES[-2]
    sql = {name[:4]: text for _, name, text in migration_files()}
    old_table = next(s for s in statements(sql["0005"]) if "CREATE TABLE" in s)
    store.command(old_table)  # the layout before 0013, holding the sealed pair rows
    store.command("INSERT INTO rollup_pairs SELECT * FROM rollup_pairs_v2")
    store.command("TRUNCATE TABLE rollup_pairs_v2")
    before = store.rows("SELECT count() FROM rollup_pairs")[0][0]
    assert before > 0
    fast, slow, used = both(store, site, pair)
    assert _used_day(used, DAY) and fast != slow  # the pair rows are not where queries read them
    copy, empty = statements(sql["0013"])[1:]
    store.command(copy)
    store.command(copy)  # an interrupted migration runs again in full
    store.command(empty)
    for statement in statements(sql["0013"]) + statements(sql["0014"]):
        store.command(statement)  # the whole of both, once more: idempotent
    assert not store.rows("EXISTS TABLE rollup_pairs")[0][0]
    assert store.rows("SELECT count() FROM rollup_pairs_v2 FINAL")[0][0] == before
    _all_equal(store, site, expect_used=True)


def test_timezone_change_sends_days_back_to_raw_data(app, client, admin_headers, site_visits):
    store, site, _ = site_visits
    r = client.patch(f"/api/admin/sites/{site.site_id}", json={"timezone": "Asia/Tokyo"},
                     headers=admin_headers)
    assert r.status_code == 200, r.text
    tokyo = app.state.registry.site(site.site_id)
    body = {**BODIES[0], "timezone": "Asia/Tokyo"}
    fast, slow, used = both(store, tokyo, body)
    assert not _used_day(used, DAY) and fast == slow
    seal_all(store, [(tokyo.site_id, tokyo.timezone)])
    fast, slow, used = both(store, tokyo, body)
    assert _used_day(used, DAY) and fast == slow


# --- SIGKILL during maintenance (its own processes: one embedded store per process) ---------------

WORKER = textwrap.dedent("""
    import datetime as dt, json, os, sys
    sys.path.insert(0, os.getcwd())
    from loadtest.model import ModelConfig
    from loadtest.seed import SeedOptions, open_bench_store, seed
    from engine.rollups import RollupMaintainer, seal_all
    from engine.query import rollup as rollup_mod
    from engine.query.run import run_query_sync
    from engine.registry import Registry

    data, mode = sys.argv[1], sys.argv[2]
    now = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    store = open_bench_store(data)
    if mode == "seal":
        seed(SeedOptions(data_dir=data, events=15000, model=ModelConfig(seed=3, sites=2, history_days=40),
                         progress=False, now=now, chunk_rows=5000), store=store)
        reg = Registry(store); reg.refresh()
        maintainer = RollupMaintainer(store, lambda: [(s.site_id, s.timezone) for s in reg.sites()],
                                      interval_s=0.01, quiet_s=0)
        print("sealing", flush=True)
        while True:
            maintainer.run_once()
    reg = Registry(store); reg.refresh()
    bodies = [{"metrics": ["visitors", "sessions", "pageviews", "bounce_rate", "avg_duration"],
               "period": "30d"},
              {"metrics": ["sessions", "bounce_rate"], "dimensions": ["source"], "period": "all"},
              {"metrics": ["visitors", "pageviews", "avg_scroll"], "dimensions": ["page"], "period": "30d"},
              {"metrics": ["sessions"], "dimensions": ["date"], "period": "30d"}]
    def answers():
        out = []
        for site in reg.sites():
            for body in bodies:
                out.append(run_query_sync(store, site, body, now=now))
        return out
    fast_before = answers()
    rollup_mod.ENABLED = False
    raw = answers()
    rollup_mod.ENABLED = True
    sealed = seal_all(store, [(s.site_id, s.timezone) for s in reg.sites()])
    fast_after = answers()
    print(json.dumps({"fast_before": fast_before, "raw": raw, "fast_after": fast_after, "resealed": sealed}))
""")


def _drop_visitors(answers):
    def clean(obj):
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items() if k != "visitors"}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj
    return clean(answers)


@pytest.mark.parametrize("delay", [0.3, 1.5])
def test_sigkill_during_maintenance_never_gives_wrong_numbers(tmp_path, delay):
    data = str(tmp_path / "store")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "CLICKPORT_ROLLUP_INTERVAL_S": "0"}
    proc = subprocess.Popen([sys.executable, str(script), data, "seal"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "sealing", proc.stderr.read()
        time.sleep(delay)  # inside a seal pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    out = subprocess.run([sys.executable, str(script), data, "check"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    raw = _drop_visitors(result["raw"])
    assert _drop_visitors(result["fast_before"]) == raw  # after the kill, before any repair
    assert _drop_visitors(result["fast_after"]) == raw   # after the next maintenance pass

"""POST /api/import: the same rows as /api/event one by one, per-line errors, re-sends, limits,
durability across SIGKILL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import time

import orjson
import pytest

from engine.ingest.rows import SESSION_ATTRS
from loadtest.history import history_lines
from loadtest.model import ModelConfig, TrafficModel
from server.routes_import import inflate
from tests.conftest import CHROME_UA, wait_flushed

END_DAY = dt.date.today() - dt.timedelta(days=2)


@pytest.fixture(scope="module")
def history() -> list[bytes]:
    model = TrafficModel(ModelConfig(seed=7))
    return list(history_lines(model, events=400, days=2, end_day=END_DAY, domain="import.example"))


def _import(client, site, body: bytes, key: str | None = None, gzipped: bool = False, **headers):
    hdrs = {"x-api-key": key or site.track_key, "Content-Type": "application/x-ndjson", **headers}
    if gzipped:
        body = gzip.compress(body)
        hdrs["Content-Encoding"] = "gzip"
    return client.post("/api/import", content=body, headers=hdrs)


def _rows(app, site) -> list[tuple]:
    """Every stored row of a site without its random or site-keyed ids (event, session, page
    visit and visitor ids), sorted."""
    cols = ", ".join(["toString(timestamp)", "type", "name", "toString(session_start)", "hostname",
                      "pathname", "url", *SESSION_ATTRS, "scroll_depth", "engaged_ms",
                      "engaged_delta_ms", "toString(revenue_amount)", "revenue_currency",
                      "meta.key", "meta.value"])
    rows = app.state.store.rows(f"SELECT {cols} FROM events WHERE site_id = {{s:UInt32}}",
                                {"s": site.site_id})
    return sorted(tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in rows)


def _shape(app, site) -> tuple:
    """Sessions and visitors as partitions of the events (ids renamed by first appearance)."""
    rows = app.state.store.rows(
        "SELECT session_id, user_id, page_visit_id FROM events WHERE site_id = {s:UInt32} "
        "ORDER BY timestamp, type, url, engaged_delta_ms", {"s": site.site_id})
    names: list[dict] = [{}, {}, {0: 0}]
    return tuple(tuple(names[i].setdefault(v, len(names[i])) for i, v in enumerate(row)) for row in rows)


def _send_one_by_one(client, site, lines: list[bytes]) -> None:
    page_visits: dict[str, str] = {}
    for raw in lines:
        body = orjson.loads(raw)
        ip, ua = body.pop("ip"), body.pop("user_agent")
        label = body.pop("page_visit_id", None)
        if body["type"] == "engagement":
            body["page_visit_id"] = page_visits[label]
        r = client.post("/api/event", json=body,
                        headers={"x-api-key": site.track_key, "User-Agent": ua, "X-Forwarded-For": ip})
        assert r.status_code == 200, r.text
        if body["type"] == "pageview" and r.json()["page_visit_id"]:
            page_visits[label] = r.json()["page_visit_id"]


def _query(client, site, body: dict) -> dict:
    r = client.post("/api/query", json=body, headers={"x-api-key": site.read_key})
    assert r.status_code == 200, r.text
    return r.json()


def test_import_equals_the_same_events_sent_one_by_one(client, app, new_site, history):
    imported, live = new_site("Europe/Berlin"), new_site("Europe/Berlin")
    r = _import(client, imported, b"".join(history), gzipped=True)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["rejected"] == [] and result["rejected_count"] == 0
    assert result["stored"] + sum(result["dropped"].values()) == len(history)
    _send_one_by_one(client, live, history)
    wait_flushed(app)
    assert _rows(app, imported) == _rows(app, live)
    assert len(_rows(app, imported)) == result["stored"] > 300
    assert _shape(app, imported) == _shape(app, live)
    span = {"start": (END_DAY - dt.timedelta(days=3)).isoformat(), "end": END_DAY.isoformat()}
    metrics = ["visitors", "sessions", "pageviews", "bounce_rate", "avg_duration", "views_per_visit",
               "avg_scroll", "clickers"]
    for dims in ([], ["source"], ["page"], ["country"], ["device"], ["entry_page"], ["date"]):
        body = {"date_range": span, "metrics": metrics, "dimensions": dims, "timezone": "Europe/Berlin"}
        assert _query(client, imported, body)["results"] == _query(client, live, body)["results"], dims


def test_resending_the_same_body_stores_nothing_twice(client, app, new_site, history):
    site = new_site()
    body = b"".join(history[:150])
    first = _import(client, site, body).json()
    count = len(_rows(app, site))
    assert count == first["stored"] > 0
    again = _import(client, site, body, gzipped=True)
    assert again.status_code == 200 and again.json()["stored"] == first["stored"]
    assert len(_rows(app, site)) == count


def test_bad_lines_are_reported_with_line_numbers_and_never_stop_good_ones(client, app, new_site):
    site = new_site()
    ts = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).timestamp()
    good = {"url": f"https://{site.domain}/a", "timestamp": ts, "ip": "81.2.69.142", "user_agent": CHROME_UA}
    lines = [
        orjson.dumps(good),                                                    # 1 ok
        b"{not json",                                                          # 2
        orjson.dumps({**good, "ip": "not-an-ip"}),                             # 3
        orjson.dumps({k: v for k, v in good.items() if k != "timestamp"}),    # 4
        b"",                                                                   # 5 blank: skipped
        orjson.dumps({**good, "url": "nope"}),                                 # 6
        orjson.dumps({**good, "colour": "red"}),                               # 7
        orjson.dumps({**good, "timestamp": ts + 86400 * 3}),                  # 8 future
        orjson.dumps({**good, "user_agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}),  # 9
        orjson.dumps({**good, "type": "engagement", "page_visit_id": "abc", "scroll_depth": 5}),  # 10
        orjson.dumps({k: v for k, v in good.items() if k != "user_agent"}),   # 11
        orjson.dumps({**good, "url": f"https://{site.domain}/b"}),             # 12 ok
    ]
    r = _import(client, site, b"\n".join(lines) + b"\n")
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["stored"] == 2 and result["dropped"] == {"bot": 1}
    errors = {item["line"]: item["error"] for item in result["rejected"]}
    assert sorted(errors) == [2, 3, 4, 6, 7, 8, 10, 11] and result["rejected_count"] == 8
    assert errors[3].startswith("ip:") and errors[4].startswith("timestamp:")
    assert errors[6].startswith("url:") and errors[7].startswith("colour:")
    assert errors[8].startswith("timestamp:") and errors[10].startswith("page_visit_id:")
    assert errors[11].startswith("user_agent:")
    assert sorted(r[5] for r in _rows(app, site)) == ["/a", "/b"]


def test_permissions_encodings_and_limits(client, app, new_site, history):
    site = new_site()
    body = b"".join(history[:20])
    assert _import(client, site, body, key=site.read_key).status_code == 401
    assert _import(client, site, body, **{"Content-Encoding": "br"}).status_code == 415
    r = _import(client, site, b"not gzip", **{"Content-Encoding": "gzip"})
    assert r.status_code == 400 and "gzip" in r.json()["message"]
    assert _import(client, site, b"\n\n").status_code == 400
    config = app.state.config
    try:
        app.state.config = dataclasses.replace(config, import_max_lines=10)
        r = _import(client, site, body)
        assert r.status_code == 413 and "lines" in r.json()["message"]
        app.state.config = dataclasses.replace(config, import_max_bytes=1000)
        r = _import(client, site, body)
        assert r.status_code == 413
    finally:
        app.state.config = config
    bomb = gzip.compress(b"\n" * 5000)
    with pytest.raises(Exception) as exc:
        inflate(bomb, limit=1000)
    assert getattr(exc.value, "status", None) == 413
    assert inflate(gzip.compress(b"x\n"), limit=1000) == b"x\n"


def test_acknowledged_imports_survive_sigkill_and_a_cut_off_one_is_completed_by_a_resend(tmp_path, history):
    import threading

    import httpx

    from tests.serverproc import ServerProcess, query_store

    first, second = b"".join(history[:200]), b"".join(history[200:])
    server = ServerProcess(str(tmp_path)).start()
    try:
        site_id, key = server.site_with_key("import.example")
        headers = {"x-api-key": key}
        acked = httpx.post(server.base + "/api/import", content=first, headers=headers, timeout=120).json()
        # The second request is cut off by SIGKILL while the server works on it.
        outcome: dict = {}

        def send() -> None:
            try:
                outcome["response"] = httpx.post(server.base + "/api/import", content=second,
                                                 headers=headers, timeout=120)
            except httpx.HTTPError as exc:
                outcome["error"] = exc

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.05)
        server.kill()
        sender.join(30)
    finally:
        server.kill()
    count_sql = f"SELECT count() FROM events WHERE site_id = {site_id}"
    stored_after_kill = query_store(str(tmp_path), count_sql)[0][0]
    assert stored_after_kill >= acked["stored"] > 0  # everything acknowledged is there
    restarted = ServerProcess(str(tmp_path)).start()
    try:
        again = httpx.post(restarted.base + "/api/import", content=second, headers=headers, timeout=120)
        assert again.status_code == 200, again.text
        total = acked["stored"] + again.json()["stored"]
    finally:
        assert restarted.terminate() == 0
    count = query_store(str(tmp_path), count_sql)[0][0]
    print(f"\nDRILL import sigkill: first={acked['stored']} after_kill={stored_after_kill} total={total} "
          f"count={count} cut_off={'response' not in outcome}")
    assert count == total  # the cut-off request's blocks that had landed were not stored twice


def test_parsing_in_worker_processes_gives_the_same_import(client, app, new_site, history):
    """Large requests are decoded and validated by worker processes in chunks (forced here on a
    small body, with chunks of 53 lines): same rows, sessions, rejections with the file's line
    numbers, drops, and a re-send stores nothing twice."""
    bad = [b"{not json", orjson.dumps({"url": "https://x.example/", "ip": "1.2.3.4"}), b""]
    lines = list(history)
    for i, line in enumerate(bad):
        lines.insert(60 + 101 * i, line + b"\n")
    body = b"".join(lines)
    parser = app.state.importer.parser
    saved = (parser.parallel_min_lines, parser.chunk_lines, parser.workers)
    answers = {}
    try:
        for mode in ("inline", "workers"):
            parser.parallel_min_lines, parser.chunk_lines, parser.workers = \
                (10**9, 53, 0) if mode == "inline" else (0, 53, 2)
            site = new_site("Europe/Berlin")
            r = _import(client, site, body)
            assert r.status_code == 200, r.text
            again = _import(client, site, body, gzipped=True)
            assert again.status_code == 200 and again.json() == r.json()
            answers[mode] = (r.json(), _rows(app, site), _shape(app, site))
    finally:
        parser.parallel_min_lines, parser.chunk_lines, parser.workers = saved
    inline, workers = answers["inline"], answers["workers"]
    assert workers[0] == inline[0] and [e["line"] for e in inline[0]["rejected"]] == [61, 162]
    assert inline[0]["stored"] == len(inline[1]) > 300
    assert workers[1] == inline[1] and workers[2] == inline[2]


def test_numbered_parts_sent_together_store_as_if_sent_in_order(client, app, new_site, history):
    """`x-import-part`: parts of one import run at once (the last part first here) and store in
    their order: the same rows and sessions as the requests sent one after another."""
    import threading

    parts = [b"".join(history[i:i + 100]) for i in range(0, len(history), 100)]
    in_order, together = new_site("Europe/Berlin"), new_site("Europe/Berlin")
    for body in parts:
        assert _import(client, in_order, body).status_code == 200
    importer, site = app.state.importer, app.state.registry.site(together.site_id)
    now = dt.datetime.now(dt.UTC)
    answers: dict[int, dict] = {}

    def send(number: int) -> None:
        part = ("parts-test", number, "x-import-part")
        answers[number] = importer.run(site, parts[number - 1], now, None, part).as_dict()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(parts), 0, -1)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # every later part is waiting before part 1 starts
    for thread in threads:
        thread.join(60)
    assert sorted(answers) == list(range(1, len(parts) + 1)) and len(parts) >= 4
    assert _rows(app, together) == _rows(app, in_order) and _shape(app, together) == _shape(app, in_order)


def test_a_part_after_a_failed_one_is_refused_until_that_one_is_re_sent(client, app, new_site, history):
    site = new_site()
    first, second = b"".join(history[:100]), b"".join(history[100:200])

    def part(body: bytes, n: int, value: str | None = None):
        return _import(client, site, body, **{"x-import-part": value or f"run-1/{n}"})

    bad = _import(client, site, first, **{"x-import-part": "run-1/1", "Content-Encoding": "br"})
    assert bad.status_code == 415  # refused before it ran
    refused = part(second, 2)
    assert refused.status_code == 409 and "x-import-part" in refused.json()["message"]
    assert "part 1" in refused.json()["message"] and _rows(app, site) == []
    assert part(first, 1).status_code == 200
    stored = len(_rows(app, site))
    assert part(second, 2).status_code == 200 and len(_rows(app, site)) > stored
    assert part(first, 1).status_code == 200 and part(second, 2).status_code == 200  # re-sends
    for value in ("run-1", "/3", "run 1/1", "run-1/0", "run-1/x", "a" * 65 + "/1"):
        r = part(first, 0, value)
        assert r.status_code == 400 and r.json()["message"].startswith("x-import-part:"), value

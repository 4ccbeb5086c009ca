"""The dashboard's report panels in a real headless Chromium (issue 13): the custom-property panel
(key chooser from the keys seen in the period, rows equal to the query API, click a row to filter),
the funnel view (steps defined in the page, bars equal to POST /api/funnel, steps kept in the URL)
and "CSV" on every panel (each downloaded file equals the API's CSV answer to the same request).
Screenshots go to .artifacts/browser/ (CLICKPORT_BROWSER_ARTIFACTS)."""

from __future__ import annotations

import datetime as dt
import glob
import os
import random
import tempfile
import time

import pytest

from tests import browser_support as bs

bs.require_browser()

DOMAIN = "reports.example.test"
TZ = "UTC"
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/124.0.0.0 Safari/537.36")
PLANS = ["pro", "free", "team", "=cmd"]


def seed(server, key: str, now: dt.datetime) -> None:
    """40 sessions over the last 5 days: / → /pricing → custom Signup {plan, interval}, each
    step reached by fewer sessions; clicks carry {button}."""
    rnd = random.Random(13)
    for n in range(40):
        start = now - dt.timedelta(minutes=rnd.randint(30, 5 * 24 * 60))
        visit = _Session(server, {"x-api-key": key, "User-Agent": UA,
                                  "X-Forwarded-For": f"100.77.{n // 200}.{n % 200 + 1}"}, start)
        visit.send({"type": "pageview", "referrer": rnd.choice(["https://www.google.com/", ""])}, 0)
        if n % 5 == 0:
            visit.send({"type": "click", "name": "cta", "meta_keys": ["button"],
                        "meta_values": [rnd.choice(["hero", "navbar"])]}, 5)
        if n % 4 == 3:
            continue
        visit.send({"type": "pageview", "url": f"https://{DOMAIN}/pricing"}, 20)
        if n % 3 == 2:
            continue
        visit.send({"type": "custom", "name": "Signup", "url": f"https://{DOMAIN}/pricing",
                    "meta_keys": ["plan", "interval"],
                    "meta_values": [PLANS[(n // 2) % len(PLANS)], rnd.choice(["monthly", "annual"])]}, 40)


class _Session:
    def __init__(self, server, headers: dict[str, str], start: dt.datetime):
        self.server, self.headers, self.start = server, headers, start
        self.session_id = None

    def send(self, body: dict, seconds: int) -> None:
        moment = self.start + dt.timedelta(seconds=seconds)
        body = {"url": f"https://{DOMAIN}/", "timestamp": moment.isoformat(), **body}
        if self.session_id:
            body["session_id"] = self.session_id
        r = self.server.http.post("/api/event", json=body, headers=self.headers)
        assert r.status_code == 200, r.text
        self.session_id = r.json()["session_id"]


@pytest.fixture(scope="module")
def env():
    server = bs.shared_server()
    read_key, track_key = server.create_site(DOMAIN, TZ)
    server.admin("POST", f"/sites/{DOMAIN}/goals", {"name": "Signup", "type": "custom", "match": "Signup"})
    seed(server, track_key, dt.datetime.now(dt.UTC))
    server.wait_flushed()
    driver = bs.chrome(window="1360,2200")
    downloads = tempfile.mkdtemp(prefix="clickport-downloads-")
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    os.makedirs(bs.ARTIFACTS, exist_ok=True)
    try:
        yield server, driver, read_key, downloads
    finally:
        bs.quit_chrome(driver)


def _open(server, driver, key, query: str = "period=7d") -> None:
    driver.get(f"{server.base}/dashboard/{DOMAIN}?{query}")
    driver.execute_script("sessionStorage.setItem(arguments[0], arguments[1])", f"cp_dash_key:{DOMAIN}", key)
    driver.get(f"{server.base}/dashboard/{DOMAIN}?{query}")
    _ready(driver)


def _ready(driver, after: int = 0) -> int:
    def done():
        state = driver.execute_script(
            "var m = document.getElementById('dash'); return [m.dataset.state, m.dataset.generation]")
        if state[0] == "error":
            raise AssertionError(driver.find_element("id", "error").text)
        return state[0] == "ready" and int(state[1] or 0) > after and int(state[1])
    return bs.wait_until(done, timeout=30, message="dashboard did not finish loading")


def _generation(driver) -> int:
    return int(driver.find_element("id", "dash").get_attribute("data-generation") or 0)


def _prop_rows(driver) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in driver.execute_script("""
        return Array.from(document.querySelectorAll('#panel-props tr.row')).map(function (r) {
          return [r.dataset.value, r.querySelector('[data-metric=visitors]').textContent,
                  r.querySelector('[data-metric=events]').textContent]; })""")]


def _funnel_bars(driver) -> list[dict]:
    return driver.execute_script("""
        return Array.from(document.querySelectorAll('#funnel-chart g.fstep')).map(function (g) {
          return {name: g.getAttribute('data-name'), sessions: +g.getAttribute('data-sessions'),
                  visitors: +g.getAttribute('data-visitors'),
                  conversion_rate: +g.getAttribute('data-conversion'),
                  dropoff: +g.getAttribute('data-dropoff')}; })""")


def test_property_panel(env):
    server, driver, key, _ = env
    _open(server, driver, key)
    start, end = _dates(7)
    keys = [r["key"] for r in server.get(key, "/api/props", start_date=start, end_date=end,
                                         timezone=TZ, limit=100)["results"]]
    assert set(keys) == {"plan", "interval", "button"}
    options = driver.execute_script(
        "return Array.from(document.querySelectorAll('#prop-key option')).map(o => o.value)")
    assert options == keys
    selected = driver.find_element("id", "prop-key").get_attribute("value")
    assert selected == keys[0]

    def expected(k):
        rows = server.query(key, metrics=["visitors", "events"], dimensions=[f"prop:{k}"], period="7d",
                            timezone=TZ, limit=10)["results"]
        return [(r[f"prop:{k}"], str(r["visitors"]), str(r["events"])) for r in rows]

    assert _prop_rows(driver) == expected(selected)

    # Choose "plan": its values, "(none)" for the events without it, the formula-looking value as sent.
    from selenium.webdriver.support.select import Select

    Select(driver.find_element("id", "prop-key")).select_by_value("plan")
    bs.wait_until(lambda: driver.find_element("id", "panel-props").get_attribute("data-dimension")
                  == "prop:plan" and _prop_rows(driver) == expected("plan"))
    values = [r[0] for r in _prop_rows(driver)]
    assert "(none)" in values and "=cmd" in values and "pro" in values
    assert "prop=plan" in driver.current_url
    driver.save_screenshot(os.path.join(bs.ARTIFACTS, "dashboard-props.png"))

    # Click "pro": a filter chip, and every KPI follows the property filter.
    generation = _generation(driver)
    driver.find_element("css selector", "#panel-props tr.row[data-value='pro']").click()
    _ready(driver, generation)
    chip = driver.find_element("css selector", "#filters .chip")
    assert chip.get_attribute("data-dimension") == "prop:plan" and "pro" in chip.text
    assert "filter=prop%3Aplan%7Cis%7Cpro" in driver.current_url
    pro = [{"dimension": "prop:plan", "operator": "is", "value": "pro"}]
    visitors = server.query(key, metrics=["visitors"], period="7d", timezone=TZ, filters=pro)["results"]
    kpi = driver.find_element("id", "kpi-visitors").get_attribute("data-value")
    assert int(kpi) == visitors["visitors"] > 0
    assert [r[0] for r in _prop_rows(driver)] == ["pro"]
    generation = _generation(driver)
    driver.find_element("css selector", "#filters .chip .x").click()
    _ready(driver, generation)


def test_funnel_view(env):
    server, driver, key, _ = env
    _open(server, driver, key)
    assert driver.find_element("id", "funnel-card").get_attribute("data-state") == "empty"
    # Define / → /pricing → custom Signup in the editor.
    driver.find_element("id", "funnel-add").click()
    rows = driver.find_elements("css selector", "#funnel-steps li.step")
    assert len(rows) == 3
    from selenium.webdriver.support.select import Select

    for row, (kind, match) in zip(rows, [("pageview", "/"), ("pageview", "/pricing"), ("custom", "Signup")],
                                  strict=True):
        Select(row.find_element("css selector", ".step-type")).select_by_value(kind)
        field = row.find_element("css selector", ".step-match")
        field.clear()
        field.send_keys(match)
    driver.find_element("id", "funnel-run").click()
    bs.wait_until(lambda: driver.find_element("id", "funnel-card").get_attribute("data-state") == "ready")
    steps = [{"type": "pageview", "match": "/"}, {"type": "pageview", "match": "/pricing"},
             {"type": "custom", "match": "Signup"}]
    r = server.http.post("/api/funnel", json={"steps": steps, "period": "7d", "timezone": TZ},
                         headers={"x-api-key": key})
    assert r.status_code == 200, r.text
    expected = r.json()
    assert _funnel_bars(driver) == expected["steps"]
    assert expected["steps"][0]["sessions"] == 40
    assert expected["steps"][1]["dropoff"] == 10 and expected["steps"][2]["sessions"] < 30
    assert float(driver.find_element("css selector", "#funnel-chart svg").get_attribute("data-conversion")) \
        == expected["conversion_rate"]
    assert "step=pageview%3A%2Fpricing" in driver.current_url
    funnel_card = driver.find_element("id", "funnel-card")
    driver.execute_script("arguments[0].scrollIntoView()", funnel_card)
    funnel_card.screenshot(os.path.join(bs.ARTIFACTS, "dashboard-funnel.png"))

    # The steps survive a reload (URL); a bad step shows the API's message naming it.
    driver.refresh()
    _ready(driver)
    bs.wait_until(lambda: _funnel_bars(driver) == expected["steps"])
    field = driver.find_elements("css selector", "#funnel-steps .step-match")[1]
    field.clear()
    field.send_keys("pricing")
    driver.find_element("id", "funnel-run").click()
    bs.wait_until(lambda: driver.find_element("id", "funnel-card").get_attribute("data-state") == "error")
    assert driver.find_element("id", "funnel-error").text.startswith("steps[1].match:")


def test_csv_download_on_every_panel(env):
    server, driver, key, downloads = env
    query = "period=7d&prop=plan&step=pageview%3A%2F&step=pageview%3A%2Fpricing"
    _open(server, driver, key, query)
    bs.wait_until(lambda: driver.find_element("id", "funnel-card").get_attribute("data-state") == "ready")
    start, end = _dates(7)
    base = {"timezone": TZ, "period": "7d", "filters": []}
    funnel = {"steps": [{"type": "pageview", "match": "/"}, {"type": "pageview", "match": "/pricing"}],
              "timezone": TZ, "period": "7d", "filters": []}
    expected = {
        "chart": ("/api/query", {**base, "metrics": ["visitors", "pageviews"], "dimensions": ["date"],
                                 "limit": 10000}, "visitors-by-date.csv"),
        "pages": ("/api/query", {**base, "metrics": ["visitors", "pageviews"], "dimensions": ["page"],
                                 "limit": 10000}, "page.csv"),
        "sources": ("/api/query", {**base, "metrics": ["visitors", "bounce_rate"],
                                   "dimensions": ["channel"], "limit": 10000}, "channel.csv"),
        "locations": ("/api/query", {**base, "metrics": ["visitors"], "dimensions": ["country"],
                                     "limit": 10000}, "country.csv"),
        "devices": ("/api/query", {**base, "metrics": ["visitors"], "dimensions": ["device"],
                                   "limit": 10000}, "device.csv"),
        "props": ("/api/query", {**base, "metrics": ["visitors", "events"], "dimensions": ["prop:plan"],
                                 "limit": 10000}, "property-plan.csv"),
        "funnel": ("/api/funnel", funnel, "funnel.csv"),
        "goals": ("/api/goals", None, "goals.csv"),
    }
    buttons = driver.execute_script(
        "return Array.from(document.querySelectorAll('button.csv')).map(b => b.dataset.csv)")
    assert sorted(buttons) == sorted(expected)
    for name, (path, body, filename) in expected.items():
        target = os.path.join(downloads, filename)
        button = driver.find_element("css selector", f"button.csv[data-csv='{name}']")
        driver.execute_script("arguments[0].click()", button)
        saved = bs.wait_until(lambda t=target: _complete(t), timeout=15, message=f"{filename} not saved")
        headers = {"x-api-key": key, "Accept": "text/csv"}
        if body is None:
            r = server.http.get(path, params={"start_date": start, "end_date": end, "timezone": TZ},
                                headers=headers)
        else:
            r = server.http.post(path, json=body, headers=headers)
        assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
        assert saved == r.content, name
        assert saved.count(b"\r\n") >= 2, name  # a header and at least one row
    assert b"'=cmd" in open(os.path.join(downloads, "property-plan.csv"), "rb").read()
    driver.save_screenshot(os.path.join(bs.ARTIFACTS, "dashboard-reports.png"))


def _complete(path: str) -> bytes | None:
    if not os.path.exists(path) or glob.glob(path + ".crdownload"):
        return None
    time.sleep(0.05)
    with open(path, "rb") as f:
        return f.read()


def _dates(days: int) -> tuple[str, str]:
    today = dt.datetime.now(dt.UTC).date()
    return str(today - dt.timedelta(days=days - 1)), str(today + dt.timedelta(days=1))

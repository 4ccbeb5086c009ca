"""The dashboard in a real headless Chromium against seeded data: sign-in, KPI cards equal to the
query API (values and change), the chart's granularity, the live count, panels, click-a-row-to-filter,
goals; screenshots go to .artifacts/browser/ (CLICKPORT_BROWSER_ARTIFACTS)."""

from __future__ import annotations

import datetime as dt
import os
import random
from zoneinfo import ZoneInfo

import pytest

from tests import browser_support as bs

bs.require_browser()

DOMAIN = "dash.example.test"
TZ = "Europe/Berlin"
METRICS = ["visitors", "sessions", "pageviews", "views_per_visit", "bounce_rate", "avg_duration",
           "avg_scroll", "clickers"]
UAS = {
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/124.0.0.0 Safari/537.36",
    "mac": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
           "Version/17.4 Safari/605.1.15",
    "iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "android": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/124.0.0.0 Mobile Safari/537.36",
    "firefox": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
}
REFERRERS = [
    ("https://www.google.com/", None), ("https://www.google.com/", None), ("", None),
    ("https://news.ycombinator.com/", None), ("https://t.co/abc", None),
    ("https://www.bing.com/", None), ("", "spring_sale"), ("https://chatgpt.com/", None),
]
# Networks with known answers in MaxMind's GeoLite2-City-Test.mmdb (distinct IP per visitor).
GEO_IPS = [
    lambda n: f"81.2.69.{160 + n % 32}",      # GB, England, London
    lambda n: f"89.160.20.{128 + n % 128}",   # SE, Linköping
    lambda n: f"81.2.69.{160 + (n + 7) % 32}",
    lambda n: f"216.160.83.{56 + n % 8}",     # US, WA, Milton
    lambda n: f"175.16.199.{n % 256}",        # CN, Changchun
    lambda n: f"2.125.160.{216 + n % 8}",     # GB, Boxford
]
PAGES = ["/", "/pricing", "/docs", "/blog/clickhouse", "/blog/privacy", "/signup", "/about"]


def seed(server, key: str, now: dt.datetime) -> None:
    """Visitors over the last 14 days (so 7d has a previous period), a few active right now."""
    rnd = random.Random(7)
    sent = 0
    for n in range(90):
        age = dt.timedelta(minutes=rnd.randint(0, 2) if n < 4 else rnd.randint(10, 13 * 24 * 60))
        start = now - age
        ip = GEO_IPS[n % len(GEO_IPS)](n)
        ua = UAS[rnd.choice(list(UAS))]
        referrer, campaign = rnd.choice(REFERRERS)
        entry = rnd.choice(PAGES[:4])
        pages = [entry] + rnd.sample(PAGES, rnd.choice([0, 0, 1, 2, 3]))
        session_id = None
        for i, path in enumerate(pages):
            moment = start + dt.timedelta(seconds=40 * i)
            url = f"https://www.{DOMAIN}{path}" + (f"?utm_campaign={campaign}&utm_source=newsletter"
                                                    f"&utm_medium=email" if campaign and i == 0 else "")
            body = {"url": url, "referrer": referrer if i == 0 else "", "timestamp": moment.isoformat(),
                    "screen_width": 390 if "Mobile" in ua else 1440}
            if session_id:
                body["session_id"] = session_id
            r = server.http.post("/api/event", json=body, headers=_headers(key, ip, ua))
            assert r.status_code == 200, r.text
            session_id, visit = r.json()["session_id"], r.json()["page_visit_id"]
            sent += 1
            if rnd.random() < 0.7:
                engagement = {"type": "engagement", "url": url, "page_visit_id": visit,
                              "scroll_depth": rnd.choice([30, 55, 80, 100]),
                              "engaged_ms": rnd.randint(3, 90) * 1000,
                              "timestamp": (moment + dt.timedelta(seconds=30)).isoformat()}
                server.http.post("/api/event", json=engagement, headers=_headers(key, ip, ua))
        if rnd.random() < 0.25:
            server.http.post("/api/event", headers=_headers(key, ip, ua), json={
                "type": "custom", "name": "Signup", "url": f"https://{DOMAIN}/signup",
                "session_id": session_id, "revenue_amount": 29, "revenue_currency": "EUR",
                "timestamp": (start + dt.timedelta(seconds=50)).isoformat()})
        if rnd.random() < 0.3:
            server.http.post("/api/event", headers=_headers(key, ip, ua), json={
                "type": "click", "name": "Outbound Link", "url": f"https://{DOMAIN}/docs",
                "session_id": session_id, "meta_keys": ["url"], "meta_values": ["https://github.com/"],
                "timestamp": (start + dt.timedelta(seconds=55)).isoformat()})
    assert sent > 90


def _headers(key: str, ip: str, ua: str) -> dict[str, str]:
    return {"x-api-key": key, "X-Forwarded-For": ip, "User-Agent": ua}


@pytest.fixture(scope="module")
def env():
    server = bs.shared_server()
    read_key, track_key = server.create_site(DOMAIN, TZ)
    server.admin("POST", f"/sites/{DOMAIN}/goals", {"name": "Signup", "type": "custom", "match": "Signup"})
    server.admin("POST", f"/sites/{DOMAIN}/goals", {"name": "Pricing page", "type": "pageview",
                                                    "match": "/pricing"})
    seed(server, track_key, dt.datetime.now(dt.UTC))
    server.wait_flushed()
    driver = bs.chrome(window="1360,1500")
    os.makedirs(bs.ARTIFACTS, exist_ok=True)
    try:
        yield server, driver, read_key
    finally:
        bs.quit_chrome(driver)


def _ready(driver, after: int = 0) -> int:
    """Wait for a completed refresh newer than `after`; returns its generation."""
    def done():
        state = driver.execute_script(
            "var m = document.getElementById('dash'); return [m.dataset.state, m.dataset.generation]")
        if state[0] == "error":
            raise AssertionError(driver.find_element("id", "error").text)
        return state[0] == "ready" and int(state[1] or 0) > after and int(state[1])
    return bs.wait_until(done, timeout=20, message="dashboard did not finish loading")


def _kpis(driver) -> dict[str, tuple[float, int | None]]:
    cards = driver.execute_script("""
        return Array.from(document.querySelectorAll('.kpi')).map(function (c) {
          var d = c.querySelector('.delta');
          var change = d.dataset.change === undefined ? null : d.dataset.change;
          return [c.dataset.metric, c.dataset.value, change];
        })""")
    return {m: (float(v), None if c is None else int(c)) for m, v, c in cards}


def _expected(server, key, filters=()) -> dict[str, tuple[float, int | None]]:
    data = server.query(key, metrics=METRICS, period="7d", timezone=TZ, include_comparison=True,
                        filters=list(filters))
    return {m: (float(data["results"][m]), data["comparison"]["change"][m]) for m in METRICS}


def _rows(driver, panel: str) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#panel-' + arguments[0] + ' tr.row'))"
        ".map(function (r) { return r.dataset.value; })", panel)


def _pick_period(driver, value: str) -> None:
    from selenium.webdriver.support.select import Select

    Select(driver.find_element("id", "period")).select_by_value(value)


def test_dashboard(env):
    server, driver, key = env
    driver.get(f"{server.base}/dashboard/{DOMAIN}?period=7d")

    # Sign-in: a wrong key is refused with the API's message, the read key opens the dashboard.
    field = bs.wait_until(lambda: driver.find_element("id", "key").is_displayed() and
                          driver.find_element("id", "key"))
    field.send_keys("ck_wrongwrongwrongwrongwrongwrongwrong")
    driver.find_element("css selector", "#signin-form button").click()
    bs.wait_until(lambda: driver.find_element("id", "signin-error").text)
    assert "invalid" in driver.find_element("id", "signin-error").text.lower()
    field.clear()
    field.send_keys(key)
    driver.find_element("css selector", "#signin-form button").click()
    generation = _ready(driver)
    assert driver.execute_script(f"return sessionStorage.getItem('cp_dash_key:{DOMAIN}')") == key

    # KPI cards: the 8 metrics and their change equal the query API's answer.
    expected = _expected(server, key)
    assert _kpis(driver) == expected
    assert expected["visitors"][0] >= 20

    # Chart: one point per day of the period (granularity "date" for 7d).
    assert driver.find_element("id", "granularity").text.strip() == "· by date"
    points = driver.find_element("css selector", "#chart svg").get_attribute("data-points")
    assert int(points) == 7

    # Live count from /api/realtime.
    live = server.get(key, "/api/realtime")["count"]
    bs.wait_until(lambda: driver.find_element("id", "live-count").text == str(live))
    assert live >= 1

    # Panels list what the API lists.
    pages = server.query(key, metrics=["visitors", "pageviews"], dimensions=["page"], period="7d",
                         timezone=TZ, limit=10)["results"]
    assert _rows(driver, "pages") == [r["page"] for r in pages]
    goals = driver.execute_script(
        "return Array.from(document.querySelectorAll('#goals tr[data-goal]')).map(function (r) {"
        " return [r.dataset.goal, r.querySelector('[data-metric=revenue]').textContent]; })")
    assert dict(goals)["Signup"].startswith("€")
    countries = server.query(key, metrics=["visitors"], dimensions=["country"], period="7d",
                             timezone=TZ, limit=10)["results"]
    assert _rows(driver, "locations") == [r["country"] for r in countries]
    driver.save_screenshot(os.path.join(bs.ARTIFACTS, "dashboard.png"))

    # Click a row: Sources tab, then "Google" → a filter chip, the URL and every KPI follow it.
    driver.find_element("css selector", "#panel-sources [data-dim=source]").click()
    bs.wait_until(lambda: "Google" in _rows(driver, "sources"))
    driver.find_element("css selector", "#panel-sources tr.row[data-value='Google']").click()
    generation = _ready(driver, generation)
    chip = driver.find_element("css selector", "#filters .chip")
    assert chip.get_attribute("data-dimension") == "source" and "Google" in chip.text
    assert "filter=source%7Cis%7CGoogle" in driver.current_url
    google = [{"dimension": "source", "operator": "is", "value": "Google"}]
    filtered = _expected(server, key, google)
    assert _kpis(driver) == filtered
    assert filtered["visitors"][0] < expected["visitors"][0]
    assert _rows(driver, "sources") == ["Google"]
    driver.save_screenshot(os.path.join(bs.ARTIFACTS, "dashboard-filtered.png"))

    # A period change keeps the filter; hourly buckets for "today".
    _pick_period(driver, "today")
    generation = _ready(driver, generation)
    assert driver.find_element("id", "granularity").text.strip() == "· by hour"
    today = server.query(key, metrics=["visitors"], period="today", timezone=TZ, filters=google)
    assert _kpis(driver)["visitors"][0] == today["results"]["visitors"]

    # Removing the chip clears the filter; a reload keeps the key (this tab) and the period.
    driver.find_element("css selector", "#filters .chip .x").click()
    generation = _ready(driver, generation)
    assert not driver.find_elements("css selector", "#filters .chip")
    driver.refresh()
    _ready(driver)
    assert driver.find_element("id", "period").get_attribute("value") == "today"

    # Every period of the picker loads without an error.
    for period in ("realtime", "yesterday", "14d", "30d", "90d", "12m", "all"):
        generation = int(driver.find_element("id", "dash").get_attribute("data-generation"))
        _pick_period(driver, period)
        _ready(driver, generation)


def test_custom_range(env):
    server, driver, key = env
    local_today = dt.datetime.now(ZoneInfo(TZ)).date()
    start, end = local_today - dt.timedelta(days=3), local_today - dt.timedelta(days=1)
    driver.get(f"{server.base}/dashboard/{DOMAIN}?period=custom&from={start}&to={end}")
    _ready(driver)
    data = server.query(key, metrics=METRICS, timezone=TZ, include_comparison=True,
                        date_range={"start": str(start), "end": str(end + dt.timedelta(days=1))})
    assert _kpis(driver) == {m: (float(data["results"][m]), data["comparison"]["change"][m])
                             for m in METRICS}
    assert int(driver.find_element("css selector", "#chart svg").get_attribute("data-points")) == 3

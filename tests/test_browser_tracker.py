"""The tracker in a real headless Chromium, asserted through the public query API.

A local single-page shop (served on shop.example.test) loads /js/script.js from the Clickport
server on 127.0.0.1 (another origin: real CORS and sendBeacon). The test browses it like a visitor:
full load, scroll, SPA route changes (pushState and the back button), a second tab, a hidden tab,
a form submission, a custom event with revenue and an outbound link click.
"""

from __future__ import annotations

import os
import time

import pytest

from engine.ingest.identity import public_session_id
from tests import browser_support as bs

bs.require_browser()

SHOP = "shop.example.test"
QUIET = "quiet.example.test"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title>
<script defer data-domain="{domain}" src="{api}/js/script.js"></script>
<style>body {{ margin: 0; font-family: sans-serif }} .tall {{ height: 4000px }}</style>
</head><body>
<nav>
  <a href="/" data-spa id="to-home">Home</a>
  <a href="/pricing" data-spa id="to-pricing">Pricing</a>
  <a href="/docs" data-spa id="to-docs">Docs</a>
  <a href="http://partner.test:{{PORT}}/landing?ref=shop" id="outbound">Visit our partner</a>
</nav>
<h1 id="title"></h1>
<form id="signup" name="signup">
  <input name="email" id="email"><input type="password" name="pw" id="pw">
  <button id="submit">Sign up</button>
</form>
<div class="tall"></div>
<script>
  function render() {{ document.getElementById('title').textContent = location.pathname; }}
  document.addEventListener('click', function (e) {{
    var a = e.target.closest('a[data-spa]');
    if (!a) return;
    e.preventDefault();
    history.pushState({{}}, '', a.getAttribute('href'));
    render();
  }});
  window.addEventListener('popstate', render);
  document.getElementById('signup').addEventListener('submit', function (e) {{
    e.preventDefault();
    history.pushState({{}}, '', '/thanks');
    render();
  }});
  render();
</script>
</body></html>
"""

SECRET = "very-secret@example.com"


@pytest.fixture(scope="module")
def env():
    server = bs.shared_server()
    read_key, _ = server.create_site(SHOP)
    quiet_key, _ = server.create_site(QUIET)
    server.admin("POST", f"/sites/{SHOP}/goals", {"name": "Signup form", "type": "form", "match": "signup"})
    server.admin("POST", f"/sites/{SHOP}/goals", {"name": "Purchase", "type": "custom", "match": "Purchase"})
    server.admin("POST", f"/sites/{SHOP}/goals", {"name": "Outbound", "type": "click", "match": ""})
    site = bs.SiteServer({
        "*": PAGE.format(domain=SHOP, api=server.base),
        "/landing": "<!doctype html><title>Partner</title><p>partner site, no tracker</p>",
    })
    driver = bs.chrome()
    try:
        yield server, site, driver, read_key, quiet_key
    finally:
        bs.quit_chrome(driver)
        site.stop()


def _sid(driver) -> str | None:
    return driver.execute_script("return sessionStorage.getItem('cp_sid')")


def _query(server, key, **body) -> dict:
    return server.query(key, period="today", **body)


def _by_page(server, key, metrics) -> dict[str, dict]:
    rows = _query(server, key, metrics=metrics, dimensions=["page"])["results"]
    return {row["page"]: row for row in rows}


def test_visitor_journey(env):
    server, site, driver, key, _ = env
    sent: list[dict] = []

    # --- tab 1: full load, scroll, SPA navigation, back button ---
    driver.get(site.url(SHOP, "/"))
    sid1 = bs.wait_until(lambda: _sid(driver), message="no cp_sid after the first pageview")
    assert driver.execute_script("return navigator.webdriver") is False
    driver.execute_script("window.scrollTo(0, document.documentElement.scrollHeight)")
    time.sleep(1.5)  # visible and focused: engaged time on "/"
    driver.find_element("id", "to-pricing").click()
    driver.find_element("id", "to-docs").click()
    driver.back()  # popstate → /pricing
    bs.wait_until(lambda: driver.find_element("id", "title").text == "/pricing")
    assert _sid(driver) == sid1  # one session across SPA navigations
    time.sleep(0.5)
    tab1 = driver.current_window_handle
    sent += bs.sent_bodies(driver)

    # --- tab 2 (tab 1 is now hidden): its own session, a form, a purchase ---
    hidden_since = time.monotonic()
    driver.switch_to.new_window("tab")
    driver.get(site.url(SHOP, "/signup"))
    sid2 = bs.wait_until(lambda: _sid(driver), message="no cp_sid in the second tab")
    assert sid2 != sid1
    assert driver.execute_script("return document.visibilityState") == "visible"
    driver.find_element("id", "email").send_keys(SECRET)
    driver.find_element("id", "pw").send_keys(SECRET)
    driver.find_element("id", "submit").click()
    bs.wait_until(lambda: driver.find_element("id", "title").text == "/thanks")
    driver.execute_script(
        "clickport.track('Purchase', {plan: 'pro', seats: 3}, {amount: 49.99, currency: 'USD'})")
    time.sleep(3.0)  # tab 1 stays hidden meanwhile
    assert _sid(driver) == sid2
    sent += bs.sent_bodies(driver)

    # --- back to tab 1 (visible again), then an outbound link click ---
    driver.switch_to.window(tab1)
    hidden_for = time.monotonic() - hidden_since
    bs.wait_until(lambda: driver.execute_script("return document.visibilityState") == "visible")
    time.sleep(2.0)
    driver.find_element("id", "outbound").click()
    bs.wait_until(lambda: "partner.test" in driver.current_url)
    sent += bs.sent_bodies(driver)

    # What the browser sent: never a form field's value; engagement beacons went out.
    assert sent, "no request to /api/collect was observed"
    assert all(SECRET not in str(body) for body in sent)
    assert {b["type"] for b in sent} >= {"pageview", "engagement", "form", "custom", "click"}
    form = next(b for b in sent if b["type"] == "form")
    assert form["name"] == "signup" and form["meta_keys"] == ["form_id"]

    # --- everything asserted through the query API ---
    def engaged_pricing() -> dict | None:
        server.wait_flushed()
        pages = _by_page(server, key, ["pageviews", "avg_scroll", "avg_duration"])
        # The last beacon (pagehide on tab 1) carries /pricing's engaged time after tab 1 came back.
        return pages if pages.get("/pricing", {}).get("avg_duration", 0) >= 1 else None

    pages = bs.wait_until(engaged_pricing, timeout=10, message="the pagehide beacon never arrived")
    totals = _query(server, key, metrics=["visitors", "sessions", "pageviews", "views_per_visit",
                                          "bounce_rate", "avg_duration", "avg_scroll", "clickers"])
    results = totals["results"]
    assert results["pageviews"] == 6  # /, /pricing, /docs, /pricing (back) + /signup, /thanks
    assert results["sessions"] == 2   # one per tab
    assert results["visitors"] == 1   # same browser, same day
    assert results["views_per_visit"] == 3.0
    assert results["bounce_rate"] == 0
    assert results["clickers"] == 1   # the outbound click, in tab 1's session
    assert results["avg_duration"] >= 1

    assert {p: r["pageviews"] for p, r in pages.items()} == {
        "/": 1, "/pricing": 2, "/docs": 1, "/signup": 1, "/thanks": 1}
    # "/" was scrolled to the bottom (layout measured at 4000+ px) and watched for 1.5 s.
    assert pages["/"]["avg_scroll"] == 100
    assert 1 <= pages["/"]["avg_duration"] <= 10
    # Other pages were never scrolled: their depth is the first viewport's share of the page.
    assert 0 < pages["/signup"]["avg_scroll"] < 50
    # Tab 1 was hidden for a while on /pricing: that time is not engaged time. Its two visits:
    # a few ms (clicked on to /docs at once) and ~0.5 s + ~2 s visible → mean ≈ 1.3 s; counting
    # the hidden time would make it ≥ 3 s.
    assert hidden_for > 3.5
    assert pages["/pricing"]["avg_duration"] <= 2

    entries = _query(server, key, metrics=["sessions"], dimensions=["entry_page"])["results"]
    assert {r["entry_page"]: r["sessions"] for r in entries} == {"/": 1, "/signup": 1}
    exits = _query(server, key, metrics=["sessions"], dimensions=["exit_page"])["results"]
    assert {r["exit_page"]: r["sessions"] for r in exits} == {"/pricing": 1, "/thanks": 1}

    today = time.strftime("%Y-%m-%d", time.gmtime())
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    goals = {g["name"]: g for g in server.get(key, "/api/goals", start_date=today,
                                               end_date=tomorrow)["goals"]}
    assert goals["Signup form"]["submissions"] == 1 and goals["Signup form"]["visitors"] == 1
    assert goals["Purchase"]["events"] == 1
    assert goals["Purchase"]["total_revenue"] == pytest.approx(49.99)
    assert goals["Purchase"].get("currency") == "USD"
    assert goals["Outbound"]["clicks"] == 1

    live = server.get(key, "/api/realtime")
    assert live["count"] >= 1
    # Realtime names sessions by their public id (no MAC bits: it cannot be sent back to write).
    assert {v["session_id"] for v in live["visitors"]} == {public_session_id(int(sid1)),
                                                          public_session_id(int(sid2))}


def test_nothing_under_automation_or_from_files(env, tmp_path):
    server, site, driver, _, quiet_key = env
    page = PAGE.format(domain=QUIET, api=server.base)
    site.pages["/quiet"] = site.pages["/control"] = page

    # navigator.webdriver = true (how automation normally looks): no request at all.
    driver.switch_to.new_window("tab")
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {
        "source": "Object.defineProperty(Navigator.prototype, 'webdriver', {get: () => true})"})
    driver.get(site.url(QUIET, "/quiet"))
    assert driver.execute_script("return navigator.webdriver") is True
    assert driver.execute_script("return typeof clickport.track") == "function"
    driver.execute_script("clickport.track('ignored')")

    # A page opened from a file: nothing either.
    path = os.path.join(tmp_path, "local.html")
    with open(path, "w") as handle:
        handle.write(page.replace("{PORT}", "1"))
    driver.switch_to.new_window("tab")
    driver.get("file://" + path)
    bs.wait_until(lambda: driver.execute_script("return typeof clickport") == "object")
    driver.execute_script("clickport.track('ignored')")
    time.sleep(1.0)
    assert not [b for b in bs.sent_bodies(driver) if b.get("domain") == QUIET]

    # Control: the same page over http in a normal tab is tracked.
    driver.switch_to.new_window("tab")
    driver.get(site.url(QUIET, "/control"))
    bs.wait_until(lambda: _sid(driver))
    server.wait_flushed()
    result = _query(server, quiet_key, metrics=["pageviews"], dimensions=["page"])["results"]
    assert result == [{"page": "/control", "pageviews": 1}]

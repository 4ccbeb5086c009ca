"""The tracker script route and the public collect endpoint (in-process; the browser tests drive
the same endpoints from a real Chromium)."""

from __future__ import annotations

import gzip

from server.routes_browser import COLLECT_MAX_BODY, hostname_belongs, minify_tracker
from tests.conftest import CHROME_UA, wait_flushed

COLLECT_HEADERS = {"User-Agent": CHROME_UA, "Content-Type": "text/plain;charset=UTF-8",
                   "Origin": "https://www.shop.example"}


def collect(client, body: dict | str | bytes, **headers):
    data = body if isinstance(body, (str, bytes)) else __import__("json").dumps(body)
    return client.post("/api/collect", content=data, headers={**COLLECT_HEADERS, **headers})


def test_script_is_small_cached_and_revalidated(client):
    r = client.get("/js/script.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert r.headers["content-encoding"] == "gzip"
    assert "max-age=86400" in r.headers["cache-control"]
    assert r.headers["access-control-allow-origin"] == "*"
    etag = r.headers["etag"]
    assert etag.startswith('"') and len(etag) > 10
    assert "cp_sid" in r.text and "sendBeacon" in r.text
    assert "\n//" not in r.text  # comments stripped
    # < 2 KB on the wire; the file itself as well (gzip -9).
    assert len(gzip.compress(r.content, 9)) < 2048
    with open("server/static/tracker.js", "rb") as handle:
        assert len(gzip.compress(handle.read(), 9)) < 2048

    again = client.get("/js/script.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert client.get("/js/script.js", headers={"If-None-Match": '"other"'}).status_code == 200
    plain = client.get("/js/script.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == r.text


def test_minify_keeps_strings_with_slashes():
    src = "// comment\n  var u = 'https://x/y'; // trailing stays\n\n    // indented comment\n  f();\n"
    assert minify_tracker(src) == "var u = 'https://x/y'; // trailing stays\nf();\n"


def test_hostname_rule():
    assert hostname_belongs("shop.example", "shop.example")
    assert hostname_belongs("www.shop.example", "shop.example")
    assert hostname_belongs("a.b.shop.example.", "shop.example")
    assert hostname_belongs("SHOP.example", "shop.example")
    assert not hostname_belongs("evilshop.example", "shop.example")
    assert not hostname_belongs("shop.example.evil", "shop.example")


def test_preflight_and_cors_on_every_answer(client, new_site):
    site = new_site()
    r = client.options("/api/collect", headers={"Origin": "https://x.example",
                                                "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]
    bad = collect(client, {"domain": site.domain, "url": "https://elsewhere.example/"})
    assert bad.status_code == 400
    assert bad.headers["access-control-allow-origin"] == "*"
    assert "elsewhere.example" in bad.json()["message"]


def test_text_plain_beacon_body_is_ingested(client, app, new_site):
    site = new_site()
    r = collect(client, {"domain": site.domain, "url": f"https://www.{site.domain}/pricing",
                         "referrer": "https://www.google.com/", "new_session": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["session_id"] > 0 and body["page_visit_id"]
    assert r.headers["access-control-allow-origin"] == "*"
    # engagement for that page visit, continuing the session
    r2 = collect(client, {"domain": site.domain, "url": f"https://www.{site.domain}/pricing",
                          "type": "engagement", "page_visit_id": body["page_visit_id"],
                          "scroll_depth": 80, "engaged_ms": 5000, "session_id": body["session_id"]})
    assert r2.status_code == 200, r2.text
    assert r2.json()["session_id"] == body["session_id"]
    wait_flushed(app)
    q = client.post("/api/query", headers={"x-api-key": site.read_key},
                    json={"metrics": ["pageviews", "sessions", "avg_scroll"], "period": "today"})
    if q.status_code != 404:  # the query API may not be wired in yet
        assert q.json()["results"] == {"pageviews": 1, "sessions": 1, "avg_scroll": 80}


def test_new_session_flag_starts_a_session_per_tab(client, new_site):
    site = new_site()
    url = f"https://{site.domain}/"
    first = collect(client, {"domain": site.domain, "url": url, "new_session": True}).json()
    # Same visitor (same IP and UA), no session id: joins the session by the 30-minute rule...
    joined = collect(client, {"domain": site.domain, "url": url + "a"}).json()
    assert joined["session_id"] == first["session_id"]
    # ...unless the tracker says it is a new tab.
    tab2 = collect(client, {"domain": site.domain, "url": url, "new_session": True}).json()
    assert tab2["session_id"] != first["session_id"]
    # A passed-back session id wins over the flag.
    cont = collect(client, {"domain": site.domain, "url": url + "b", "new_session": True,
                            "session_id": first["session_id"]}).json()
    assert cont["session_id"] == first["session_id"]


def test_rejections(client, new_site):
    site = new_site()
    assert collect(client, b"{not json").status_code == 400
    assert collect(client, "[1, 2]").status_code == 400
    r = collect(client, {"url": f"https://{site.domain}/"})
    assert r.status_code == 400 and "domain" in r.json()["message"]
    r = collect(client, {"domain": "unknown-site.example", "url": "https://unknown-site.example/"})
    assert r.status_code == 404
    r = collect(client, {"domain": site.domain, "url": f"https://{site.domain}/", "type": "bogus"})
    assert r.status_code == 400 and "type" in r.json()["message"]
    big = {"domain": site.domain, "url": f"https://{site.domain}/", "name": "x" * COLLECT_MAX_BODY}
    r = collect(client, big)
    assert r.status_code == 413
    assert r.headers["access-control-allow-origin"] == "*"


def test_drop_rules_apply(client, new_site):
    site = new_site()
    ok = {"domain": site.domain, "url": f"https://{site.domain}/"}
    r = collect(client, ok, DNT="1")
    assert r.status_code == 200 and r.json()["session_id"] is None
    r = collect(client, ok, **{"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"})
    assert r.status_code == 200 and r.json()["session_id"] is None


def test_client_timestamp_is_ignored(client, new_site):
    site = new_site()
    r = collect(client, {"domain": site.domain, "url": f"https://{site.domain}/",
                         "timestamp": "2001-01-01T00:00:00Z"})
    assert r.status_code == 200 and r.json()["session_id"]


def test_dashboard_page(client, new_site):
    site = new_site(timezone="Europe/Berlin")
    r = client.get(f"/dashboard/{site.domain}")
    assert r.status_code == 200
    assert f'data-domain="{site.domain}"' in r.text
    assert 'data-timezone="Europe/Berlin"' in r.text
    assert client.get("/dashboard/no-such-site.example").status_code == 404
    for name in ("dashboard.js", "dashboard.css"):
        asset = client.get(f"/dashboard-assets/{name}")
        assert asset.status_code == 200 and asset.headers["etag"]
    assert client.get("/dashboard-assets/secret.key").status_code == 404
    r = client.get("/dashboard?domain=Example.COM", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/example.com"

"""Sites, keys and goals under concurrent administration (issue 10 findings)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import fresh_ip


def _domain(tag: str, i: int) -> str:
    return f"race-{tag}-{i}-{time.monotonic_ns() % 10**9}.example.org"


def test_parallel_site_creations_get_distinct_ids_and_keys_stay_scoped(client, admin_headers):
    tag = "sites"

    def create(i: int):
        r = client.post("/api/admin/sites", json={"domain": _domain(tag, i)}, headers=admin_headers)
        assert r.status_code == 201, r.text
        site = r.json()
        k = client.post(f"/api/admin/sites/{site['id']}/keys", json={}, headers=admin_headers)
        assert k.status_code == 201, k.text
        return site, k.json()["key"]

    with ThreadPoolExecutor(10) as pool:
        created = list(pool.map(create, range(10)))
    ids = [site["id"] for site, _ in created]
    assert len(set(ids)) == 10
    sites = client.get("/api/admin/sites", headers=admin_headers).json()["sites"]
    listed = {s["id"]: s["domain"] for s in sites}
    for site, key in created:
        assert listed[site["id"]] == site["domain"]  # no merged rows: each id keeps its own domain
        r = client.get("/api/realtime", headers={"x-api-key": key})
        assert r.status_code == 200
    # Each key writes to and reads only its own site.
    for site, key in created[:3]:
        r = client.post("/api/event", json={"type": "pageview", "url": f"https://{site['domain']}/own"},
                        headers={"x-api-key": key, "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) "
                                 "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
                                 "X-Forwarded-For": fresh_ip()})
        assert r.status_code == 200


def test_parallel_goal_creations_all_survive(client, admin_headers, new_site):
    site = new_site()

    def create(i: int) -> int:
        r = client.post(f"/api/admin/sites/{site.site_id}/goals",
                        json={"name": f"goal {i}", "type": "custom"}, headers=admin_headers)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(8)))
    assert len(set(ids)) == 8
    goals = client.get(f"/api/admin/sites/{site.site_id}/goals", headers=admin_headers).json()["goals"]
    assert sorted(g["id"] for g in goals) == sorted(ids)


def test_same_domain_created_twice_in_parallel_gives_one_site(client, admin_headers):
    domain = _domain("dup", 0)

    def create(_):
        return client.post("/api/admin/sites", json={"domain": domain}, headers=admin_headers).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(create, range(4)))
    assert codes == [201, 409, 409, 409]


def test_patch_racing_a_delete_cannot_resurrect_the_site(app, client, admin_headers, new_site):
    site = new_site()
    registry = app.state.registry
    stale = registry.require_site(site.site_id)
    assert client.delete(f"/api/admin/sites/{site.site_id}", headers=admin_headers).status_code == 200
    # A PATCH that had read the site before the delete writes its (ordinary, newer) row now.
    registry._insert_site(type(stale)(stale.site_id, stale.domain, "Europe/Berlin"), deleted=0)
    registry.refresh()
    assert registry.site(site.site_id) is None
    r = client.post("/api/event", json={"type": "pageview", "url": f"https://{site.domain}/"},
                    headers={"x-api-key": site.key, "User-Agent": "Mozilla/5.0 Chrome/124.0",
                             "X-Forwarded-For": fresh_ip()})
    assert r.status_code == 401
    r = client.patch(f"/api/admin/sites/{site.site_id}", json={"timezone": "UTC"}, headers=admin_headers)
    assert r.status_code == 404


def test_deleting_a_site_revokes_its_keys(app, client, admin_headers, new_site):
    site = new_site()
    assert client.delete(f"/api/admin/sites/{site.site_id}", headers=admin_headers).status_code == 200
    revoked = app.state.store.rows(
        "SELECT count() FROM api_keys FINAL WHERE site_id = {s:UInt32} AND revoked = 1", {"s": site.site_id})
    assert revoked[0][0] == 3


def test_all_digit_domain_is_rejected(client, admin_headers):
    for domain in ("1", "12345"):
        r = client.post("/api/admin/sites", json={"domain": domain}, headers=admin_headers)
        assert r.status_code == 400 and "domain" in r.json()["message"]

"""Browser-facing routes: the tracker script, the public collect endpoint and the dashboard.

- `GET /js/script.js`: the tracker (server/static/tracker.js with full-line comments and
  indentation stripped), cached for a day, with an ETag (304 on If-None-Match) and gzip.
- `POST /api/collect`: the tracker's endpoint. No API key: the site is the one registered for the
  event's `domain` (the tag's data-domain) and the page's hostname must be that domain or a
  subdomain of it. CORS for any origin, `text/plain` bodies (sendBeacon), 8 KB body limit. Events go
  through the same ingestor as POST /api/event (enrichment, DNT/bot/rate-limit rules, writer).
- `GET /dashboard/<domain>`: the dashboard page (plain HTML/CSS/JS in server/static/), which reads
  everything through the public query API with a read key.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import html
import os
from dataclasses import dataclass
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from engine.enrich.urls import parse_page_url
from engine.errors import FieldError
from engine.ingest.pipeline import Visitor
from engine.ingest.validate import parse_event
from engine.ingest.writer import Overloaded
from engine.query import fields as query_fields
from server.errors import ApiError, error_response
from server.jsonresp import json_response
from server.requests import read_body, visitor_ip

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
COLLECT_MAX_BODY = 8 * 1024
SCRIPT_MAX_AGE = 86400  # a day: the script URL is not versioned, so browsers revalidate daily

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


# --- static assets ----------------------------------------------------------------------------


def minify_tracker(source: str) -> str:
    """Drop full-line `//` comments, indentation and blank lines (safe: nothing inside a line
    is touched, so strings such as 'https://' survive)."""
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    media_type: str
    cache_control: str

    @classmethod
    def load(cls, name: str, media_type: str, cache_control: str, transform=None) -> Asset:
        with open(os.path.join(STATIC_DIR, name), encoding="utf-8") as handle:
            text = handle.read()
        body = (transform(text) if transform else text).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        return cls(body, gzip.compress(body, 9, mtime=0), etag, media_type, cache_control)

    def response(self, request: Request, extra: dict[str, str] | None = None) -> Response:
        headers = {"ETag": self.etag, "Cache-Control": self.cache_control,
                   "Vary": "Accept-Encoding", **(extra or {})}
        if _etag_matches(request.headers.get("if-none-match", ""), self.etag):
            return Response(status_code=304, headers=headers)
        body = self.body
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = self.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, headers=headers, media_type=self.media_type)


def _etag_matches(header: str, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


_assets: dict[str, Asset] = {}


def asset(name: str) -> Asset:
    """Loaded once per process (the package's files do not change while it runs)."""
    found = _assets.get(name)
    if found is None:
        if name == "tracker.js":
            found = Asset.load(name, "application/javascript",
                               f"public, max-age={SCRIPT_MAX_AGE}", minify_tracker)
        else:
            media = {"js": "application/javascript", "css": "text/css"}[name.rsplit(".", 1)[1]]
            found = Asset.load(name, media, "no-cache")
        _assets[name] = found
    return found


DASHBOARD_ASSETS = ("dashboard.js", "dashboard.css")


async def tracker_script(request: Request) -> Response:
    return asset("tracker.js").response(request, {"Access-Control-Allow-Origin": "*"})


async def dashboard_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in DASHBOARD_ASSETS:
        raise ApiError(404, f"no dashboard asset {name!r}")
    return asset(name).response(request)


async def dashboard_page(request: Request) -> Response:
    """The page knows only the site's domain and timezone (so periods follow the site's day);
    the data come from the query API with the visitor's read key."""
    site = request.app.state.registry.site_by_domain(request.path_params["domain"].strip())
    if site is None:
        return HTMLResponse(
            "<!doctype html><meta charset=utf-8><title>Not found</title>"
            "<link rel=stylesheet href=/dashboard-assets/dashboard.css>"
            f"<form class=signin><h1>No site {html.escape(request.path_params['domain'])}</h1>"
            "<p>Create it with <code>clickport sites create DOMAIN</code>.</p></form>",
            status_code=404,
        )
    page = _dashboard_template().replace("{{domain}}", html.escape(site.domain))
    page = page.replace("{{timezone}}", html.escape(site.timezone))
    return HTMLResponse(page, headers={"Cache-Control": "no-cache",
                                       "Referrer-Policy": "no-referrer"})


_template: list[str] = []


PERIOD_LABELS = {"realtime": "Realtime (30 min)", "today": "Today", "yesterday": "Yesterday",
                 "7d": "Last 7 days", "14d": "Last 14 days", "30d": "Last 30 days",
                 "90d": "Last 90 days", "12m": "Last 12 months", "all": "All time"}


def _dashboard_template() -> str:
    """dashboard.html with the engine's period list filled in (one source)."""
    if not _template:
        with open(os.path.join(STATIC_DIR, "dashboard.html"), encoding="utf-8") as handle:
            page = handle.read()
        options = "\n".join(f'      <option value="{p}">{html.escape(PERIOD_LABELS.get(p, p))}</option>'
                            for p in query_fields.PERIODS)
        _template.append(page.replace("{{period_options}}", options))
    return _template[0]


async def dashboard_index(request: Request) -> Response:
    domain = request.query_params.get("domain", "").strip().lower()
    if domain:
        return RedirectResponse(f"/dashboard/{quote(domain, safe='')}", status_code=303)
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Clickport</title>"
        "<link rel=stylesheet href=/dashboard-assets/dashboard.css>"
        "<form class=signin method=get action=/dashboard><h1>Clickport</h1>"
        "<label>Site domain <input name=domain placeholder=example.com required></label>"
        "<button>Open dashboard</button></form>",
        headers={"Cache-Control": "no-cache"},
    )


# --- public collect endpoint ------------------------------------------------------------------


def hostname_belongs(hostname: str, domain: str) -> bool:
    """The page's host is the site's domain or a subdomain of it (www. included)."""
    host = hostname.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


PUBLIC_MAX_REVENUE = 1_000_000


async def collect_preflight(request: Request) -> Response:
    return Response(status_code=204, headers=CORS_HEADERS)


async def collect(request: Request) -> Response:
    try:
        payload = await _collect(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, {**(exc.headers or {}), **CORS_HEADERS})
    except FieldError as exc:
        return error_response(exc.status, str(exc), CORS_HEADERS)
    return json_response(payload, headers=CORS_HEADERS)


async def _collect(request: Request) -> dict:
    state = request.app.state
    raw = await read_body(request, COLLECT_MAX_BODY)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "body: expected a JSON object (sent as text/plain or JSON)") from None
    if not isinstance(body, dict):
        raise ApiError(400, "body: must be a JSON object")
    # Tracker-only field: a tab with no session yet asks for its own session (one tab = one session).
    new_session = body.pop("new_session", False) is True
    # A browser's clock is not trusted with history: public events are stamped on arrival.
    body.pop("timestamp", None)
    if not isinstance(body.get("domain"), str) or not body["domain"].strip():
        raise ApiError(400, "domain: required (the data-domain of the tracker's script tag)")
    now = dt.datetime.now(dt.UTC)
    event = parse_event(body, now)
    state.ingestor.refuse_forged(event)  # before any other work: a forged id is a cheap 400
    if event.revenue_amount is not None and not 0 <= event.revenue_amount <= PUBLIC_MAX_REVENUE:
        # Anyone can post here: no refunds, no absurd amounts (a server-side key may send those).
        raise ApiError(400, f"revenue_amount: on the public endpoint between 0 and {PUBLIC_MAX_REVENUE:,}")
    site = state.registry.site_by_domain(event.domain)
    if site is None:
        raise ApiError(404, f"domain: no site is registered for {event.domain!r}")
    try:
        hostname = parse_page_url(event.url).hostname  # cached: the ingestor's parse reuses it
    except ValueError as exc:
        raise FieldError("url", str(exc)) from None
    if not hostname_belongs(hostname, site.domain):
        raise ApiError(400, f"url: the page's host {hostname!r} is not {site.domain} "
                            "or one of its subdomains")
    visitor = Visitor(
        ip=visitor_ip(request, trust_forwarded=False),
        user_agent=request.headers.get("user-agent", ""),
        do_not_track=request.headers.get("dnt", "").strip() == "1",
    )
    try:
        fresh = new_session and event.type == "pageview" and event.session_id is None
        result = await state.ingestor.ingest(site, event, visitor, now, new_session=fresh)
    except Overloaded as exc:
        raise ApiError(503, f"busy: {exc}", headers={"Retry-After": "5"}) from None
    return {"success": True, "session_id": result.session_id, "page_visit_id": result.page_visit_id}


ROUTES: list = [
    Route("/js/script.js", tracker_script, methods=["GET", "HEAD"]),
    Route("/api/collect", collect, methods=["POST"]),
    Route("/api/collect", collect_preflight, methods=["OPTIONS"]),
    Route("/dashboard", dashboard_index, methods=["GET"]),
    Route("/dashboard/{domain}", dashboard_page, methods=["GET"]),
    Route("/dashboard-assets/{name}", dashboard_asset, methods=["GET"]),
]

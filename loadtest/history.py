"""A history file for bulk import (`POST /api/import`, `clickport import`) from the traffic model.

    python -m loadtest history --events 5M --days 60 --domain example.com --out data/history.ndjson.gz

One NDJSON line per event in the /api/event shape plus `timestamp` (unix seconds), `ip` and
`user_agent`, in timestamp order: modelled sessions of one site (the model's biggest by default)
with their pageviews, engagement updates, clicks, forms and custom events, plus the model's share
of bot visits (dropped by the import). A pageview carries the page visit's id as `page_visit_id`
and its engagement lines refer to it (the import's way to tie them without server round trips).
Reproducible: the same options give the same file.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import time
from collections.abc import Iterator

import numpy as np
import orjson

from loadtest.load import visit_bodies
from loadtest.model import ENGAGEMENT, PAGEVIEW, ModelConfig, TrafficModel


def history_lines(model: TrafficModel, *, events: int, days: int, end_day: dt.date,
                  domain: str | None = None, site_index: int = 0) -> Iterator[bytes]:
    """About `events` lines (humans and bots) over `days` local days ending before `end_day`."""
    site = model.sites[site_index]
    per_day = max(1, round(events / days / model.events_per_session))
    rng = np.random.default_rng([model.config.seed, 4242, site_index])
    prefix, target = f"https://{site.domain}".encode(), f"https://{domain or site.domain}".encode()
    pending: list[tuple[int, int, bytes]] = []
    counter = 0
    for d in range(days, 0, -1):
        day = end_day - dt.timedelta(days=d)
        batch = model.sessions(site, day, per_day)
        order = np.lexsort((batch.ev_ts_ms, batch.ev_session))
        bounds = np.searchsorted(batch.ev_session[order], np.arange(batch.n_sessions + 1)).tolist()
        # Plain lists: per-event numpy scalar access would dominate the run time.
        ev_type, ev_ts, ev_pv = batch.ev_type.tolist(), batch.ev_ts_ms.tolist(), batch.ev_pv.tolist()
        ev_scroll, ev_engaged = batch.ev_scroll.tolist(), batch.ev_engaged.tolist()
        pv_hex = [f"{v:x}" for v in batch.pv_id.tolist()]
        ips, uas = batch.ip.tolist(), batch.ua.tolist()
        for s in range(batch.n_sessions):
            evs = order[bounds[s]:bounds[s + 1]]
            extra = {"ip": model.ip_text(ips[s]), "user_agent": model.humans[uas[s]]["ua"]}
            urls: dict[int, str] = {}
            for e, body in visit_bodies(model, batch, s, evs):
                if ev_type[e] == PAGEVIEW:
                    pv = ev_pv[e]
                    body["page_visit_id"] = pv_hex[pv]
                    urls[pv] = body["url"]
                counter += 1
                pending.append((ev_ts[e], counter, _line(body, ev_ts[e], extra)))
            for e in evs.tolist():
                if ev_type[e] != ENGAGEMENT:
                    continue
                pv = ev_pv[e]
                body = {"type": "engagement", "url": urls.get(pv, f"https://{site.domain}/"),
                        "page_visit_id": pv_hex[pv]}
                if ev_scroll[e] >= 0:
                    body["scroll_depth"] = ev_scroll[e]
                if ev_engaged[e] >= 0:
                    body["engaged_ms"] = ev_engaged[e]
                if len(body) == 3:
                    continue
                counter += 1
                pending.append((ev_ts[e], counter, _line(body, ev_ts[e], extra)))
        day_start = model.local_midnight_ms(site, day)
        for _ in range(int(round(per_day * model.config.bot_share))):
            bot = model.bots[int(np.searchsorted(model.bot_cdf, rng.random(), side="right"))]
            ts = day_start + int(rng.integers(0, 86_400_000))
            page = site.pages[int(rng.integers(0, len(site.pages)))]
            extra = {"ip": model.ip_text(int(batch.ip[int(rng.integers(0, len(batch.ip)))])),
                     "user_agent": bot["ua"]}
            counter += 1
            pending.append((ts, counter, _line({"type": "pageview", "url": f"https://{site.domain}{page}"},
                                               ts, extra)))
        # Emit what lies before the next local midnight; sessions running past it wait.
        pending.sort()
        cut = model.local_midnight_ms(site, day + dt.timedelta(days=1)) if d > 1 else None
        keep = len(pending) if cut is None else int(np.searchsorted([p[0] for p in pending], cut))
        for _, _, line in pending[:keep]:
            yield line.replace(prefix, target) if domain else line
        pending = pending[keep:]


def _line(body: dict, ts_ms: int, extra: dict) -> bytes:
    body["timestamp"] = ts_ms / 1000
    body.update(extra)
    return orjson.dumps(body) + b"\n"


def write_history(path: str, *, events: int, days: int, domain: str | None, seed: int = 42,
                  end_day: dt.date | None = None, progress: bool = True) -> dict:
    model = TrafficModel(ModelConfig(seed=seed))
    end_day = end_day or dt.date.today()
    started = time.perf_counter()
    n = 0
    opener = gzip.open if path.endswith(".gz") else open
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with opener(path, "wb", compresslevel=3) if path.endswith(".gz") else opener(path, "wb") as out:
        chunk: list[bytes] = []
        for line in history_lines(model, events=events, days=days, end_day=end_day, domain=domain):
            chunk.append(line)
            n += 1
            if len(chunk) >= 100_000:
                out.write(b"".join(chunk))
                chunk = []
                if progress:
                    print(f"\r{n:,} lines", end="", flush=True)
        out.write(b"".join(chunk))
    if progress:
        print(f"\r{n:,} lines")
    return {"path": path, "lines": n, "bytes": os.path.getsize(path), "days": days,
            "end_day": end_day.isoformat(), "seconds": round(time.perf_counter() - started, 1)}

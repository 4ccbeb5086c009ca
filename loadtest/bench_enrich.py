"""Micro-benchmark of the per-event enrichment functions (not a test).

    python loadtest/bench_enrich.py [--geo-db PATH] [--events N]

Prints µs per call for each function, uncached (every input new to the caches) and cached (a
realistic stream where visitors repeat their UA and IP), and the whole per-event pipeline
(bot check, UA parse, geo lookup, URL parse, referrer classification) over a stream of events.
The GeoIP database defaults to data/geo/dbip-city-lite.mmdb, else MaxMind's test database in
~/.cache/clickport/test-geo.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.enrich import bots, referrer, urls, useragent  # noqa: E402
from engine.enrich.geo import GeoLocator  # noqa: E402
from engine.enrich.geo_install import city_db_path  # noqa: E402

# Real browser UA shapes; {v}/{m}/{i} are filled with plausible versions to get thousands of
# distinct strings.
UA_TEMPLATES = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.{i}.{m}",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{m}.{i} Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS {m}_{i} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/{m}.{i} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS {m}_{i} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) CriOS/{v}.0.6367.88 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS {m}_{i} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{m}.{i} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android {m}; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/{i}.0 Chrome/{v}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android {m}; Pixel 8 Build/AP1A.240305.019; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/{v}.0.6261.105 Mobile Safari/537.36 Instagram "
    "321.0.0.{i}.106 Android (34/14; 420dpi; 1080x2400; Google/google; Pixel 8; shiba; en_US)",
    "Mozilla/5.0 (compatible; Googlebot/2.{i}; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.{i}; "
    "+https://openai.com/gptbot)",
    "python-requests/2.{v}.{i}",
]

REFERRERS = [
    "", "", "", "", "https://www.google.com/", "https://www.google.co.uk/",
    "https://www.bing.com/search?q=analytics", "https://duckduckgo.com/",
    "https://l.facebook.com/", "https://t.co/{i}", "https://www.reddit.com/r/selfhosted/{i}/",
    "https://news.ycombinator.com/item?id={i}", "https://chatgpt.com/",
    "https://www.perplexity.ai/search/{i}", "https://blog{i}.example.net/post/{i}",
    "https://www.example.com/pricing", "android-app://com.google.android.gm/",
    "https://www.youtube.com/watch?v={i}",
]
URLS = [
    "https://www.example.com/",
    "https://www.example.com/blog/post-{i}",
    "https://www.example.com/pricing?plan=pro",
    "https://www.example.com/docs/{i}/install#linux",
    "https://www.example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=w{i}",
    "https://www.example.com/landing?gclid=Cj0KCQjw{i}&utm_source=google&utm_medium=cpc",
    "https://www.example.com/p/{i}?fbclid=IwAR{i}xyz",
]


def make_uas(rnd: random.Random, n: int) -> list[str]:
    out = set()
    while len(out) < n:
        t = rnd.choice(UA_TEMPLATES)
        out.add(t.format(v=rnd.randrange(100, 140), m=rnd.randrange(12, 19),
                         i=rnd.randrange(0, 40)))
    return list(out)


def make_ips(rnd: random.Random, n: int) -> list[str]:
    return [f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}."
            f"{rnd.randrange(1, 255)}" for _ in range(n)]


def timed(label: str, fn, inputs: list, reps: int = 1) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        for x in inputs:
            fn(x)
    us = (time.perf_counter() - t0) / (len(inputs) * reps) * 1e6
    print(f"  {label:<44} {us:8.2f} µs/call   ({len(inputs) * reps} calls)")
    return us


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--geo-db", help="a City .mmdb (default: DB-IP in data/geo, else test db)")
    ap.add_argument("--events", type=int, default=20000, help="events in the pipeline stream")
    args = ap.parse_args()

    repo = Path(__file__).resolve().parent.parent
    geo_path = args.geo_db
    if geo_path is None:
        for cand in (city_db_path(repo / "data"),
                     Path.home() / ".cache/clickport/test-geo/GeoLite2-City-Test.mmdb"):
            if cand.is_file():
                geo_path = str(cand)
                break
    geo = GeoLocator(geo_path)
    print(f"geo database: {geo_path or '(none)'} {geo.database_type} mode={geo.mode}")

    rnd = random.Random(42)
    uas = make_uas(rnd, 3000)
    ips = make_ips(rnd, 5000)
    page_urls = [rnd.choice(URLS).format(i=rnd.randrange(1000)) for _ in range(5000)]
    refs = [rnd.choice(REFERRERS).format(i=rnd.randrange(1000)) for _ in range(5000)]

    # warm-up: build the ua-parser resolver and compile everything once
    useragent.parse_client(uas[0])
    bots.is_bot(uas[0])

    print("uncached (every input new):")
    useragent._parse.cache_clear()
    bots.is_bot.cache_clear()
    timed("is_bot (isbot patterns + ua-parser Spider)", bots.is_bot, uas)
    timed("parse_client (after is_bot: shared parse)", useragent.parse_client, uas)
    useragent._parse.cache_clear()
    timed("parse_client (ua-parser-rs parse)", useragent.parse_client, uas)
    bots.is_bot.cache_clear()
    timed("is_bot (patterns only; parse cached)", bots.is_bot, uas)
    timed("GeoLocator.lookup", geo.lookup, ips)
    referrer.classify.cache_clear()
    timed("classify (referrer/utm/click id)",
          lambda r: referrer.classify(r, "", "", "", "", "example.com"), refs)
    timed("parse_page_url", urls.parse_page_url, page_urls)

    print("cached (repeat inputs):")
    timed("is_bot", bots.is_bot, uas, reps=3)
    timed("parse_client", useragent.parse_client, uas, reps=3)
    timed("GeoLocator.lookup", geo.lookup, ips, reps=3)
    timed("classify",
          lambda r: referrer.classify(r, "", "", "", "", "example.com"), refs, reps=3)

    # A stream of events: 4,000 visitors (own IP, a UA from the pool), ~5 events each.
    visitors = [(rnd.choice(uas), rnd.choice(ips)) for _ in range(4000)]
    events = []
    for _ in range(args.events):
        ua, ip = rnd.choice(visitors)
        events.append((ua, ip, rnd.choice(page_urls), rnd.choice(refs)))
    useragent._parse.cache_clear()
    bots.is_bot.cache_clear()
    geo._cached.cache_clear()
    referrer.classify.cache_clear()

    def enrich(ev):
        ua, ip, url, ref = ev
        if bots.is_bot(ua):
            return None
        client = useragent.parse_client(ua)
        place = geo.lookup(ip)
        page = urls.parse_page_url(url)
        acq = referrer.classify(ref, page.utm.get("utm_source", ""),
                                page.utm.get("utm_medium", ""), page.utm.get("utm_campaign", ""),
                                page.click_id_param, "example.com")
        return client, place, page, acq

    print(f"pipeline ({len(events)} events from {len(visitors)} visitors, caches cold at start):")
    timed("full enrichment per event", enrich, events)
    print("pipeline again (caches warm):")
    timed("full enrichment per event", enrich, events)


if __name__ == "__main__":
    main()

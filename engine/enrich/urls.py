"""Page URL -> hostname, pathname, cleaned URL, UTM parameters and click-id parameter.

* ``hostname``: the URL's host, lowercased, port and userinfo removed ("www." is kept: it is
  part of the real hostname).
* ``pathname``: the path as sent (no percent-decoding, trailing slash kept); "/" when empty.
* ``clean_url``: the URL with the tracking parameters of ``engine/data/tracking_params.json``
  removed (click ids such as gclid/fbclid/msclkid, e-mail recipient ids such as mc_eid/_hsenc,
  share ids, ...), userinfo ("user:pass@") removed, scheme and host lowercased. Everything else,
  including utm_* parameters, parameter order and encoding, and the #fragment, is kept as sent.
  A query left empty loses its "?".
* ``utm``: utm_source, utm_medium, utm_campaign, utm_content, utm_term from the query string
  (percent/plus-decoded, whitespace-trimmed; first occurrence wins; absent ones are left out).
* ``click_id_param``: the name (lowercase) of the first click-id parameter present, "" if none.

A URL without a scheme or a host raises ``ValueError`` with a message that says so (the API turns
it into a 400).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from urllib.parse import unquote_plus, urlsplit

from engine.enrich._data import load_json

__all__ = ["PageUrl", "parse_page_url", "CLICK_ID_PARAMS", "TRACKING_PARAMS", "UTM_PARAMS"]

_data = load_json("tracking_params.json")
CLICK_ID_PARAMS: frozenset[str] = frozenset(p.lower() for p in _data["click_ids"])
TRACKING_PARAMS: frozenset[str] = CLICK_ID_PARAMS | frozenset(p.lower() for p in _data["other"])
UTM_PARAMS: tuple[str, ...] = (
    "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
)
_UTM_SET = frozenset(UTM_PARAMS)


@dataclass(slots=True)
class PageUrl:
    hostname: str
    pathname: str
    clean_url: str
    utm: dict[str, str] = field(default_factory=dict)
    click_id_param: str = ""


def _param_name(part: str) -> str:
    name = part.split("=", 1)[0]
    if "%" in name or "+" in name:
        name = unquote_plus(name)
    return name.strip().lower()


@functools.lru_cache(maxsize=32768)
def parse_page_url(url: str) -> PageUrl:
    """Split and clean a page URL. Raises ValueError when it has no scheme or no host.
    Cached (a site's pages repeat; engagement updates repeat their pageview's URL): the returned
    PageUrl is shared, so callers must not modify it."""
    url = url.strip()
    try:
        parts = urlsplit(url)  # validates IPv6 brackets; memoised by urllib
    except ValueError as exc:
        raise ValueError(f"invalid URL {url[:200]!r}: {exc}") from None
    # Host and port from netloc by hand: SplitResult.hostname is several times slower.
    netloc = parts.netloc.rpartition("@")[2].lower()
    if netloc.startswith("["):
        hostname = netloc[1 : netloc.find("]")]
    else:
        hostname = netloc.partition(":")[0]
    if not parts.scheme or not hostname:
        raise ValueError(
            f"invalid URL {url[:200]!r}: an absolute URL with a scheme and a host is required "
            "(e.g. https://example.com/page)"
        )
    scheme = parts.scheme.lower()
    path = parts.path or "/"

    utm: dict[str, str] = {}
    click_id = ""
    query = parts.query
    if query:
        kept = []
        changed = False
        for part in query.split("&"):
            name = _param_name(part)
            if name in TRACKING_PARAMS:
                changed = True
                if not click_id and name in CLICK_ID_PARAMS:
                    click_id = name
                continue
            if not part:
                changed = True
                continue
            if name in _UTM_SET and name not in utm:
                value = part.partition("=")[2]
                value = unquote_plus(value).strip()
                if value:
                    utm[name] = value
            kept.append(part)
        if changed:
            query = "&".join(kept)

    clean = f"{scheme}://{netloc}{path}"
    if query:
        clean += "?" + query
    if parts.fragment:
        clean += "#" + parts.fragment
    return PageUrl(hostname, path, clean, utm, click_id)

"""User-Agent -> device type, browser, browser version, OS, OS version.

Parsing is done by ``ua-parser`` 1.x with its Rust resolver (``ua-parser-rs``, built from the
regexes in ``ua-parser-builtins``); results are memoised per UA string with
``functools.lru_cache``, because ua-parser's own cache is much slower per hit and real traffic
repeats UAs constantly.

Output conventions (every field is a string, ``""`` when unknown):

* ``device``: ``"Desktop"``, ``"Mobile"`` or ``"Tablet"``. ua-parser does not classify devices,
  so this is derived: iPad, Kindle, Android tablets (an Android UA without the ``Mobile`` token,
  which is how Chrome, Samsung Internet, Firefox and Opera tell tablets apart) and devices
  ua-parser recognises as tablets -> Tablet; iPhone/iPod, Android phones, Windows Phone, KaiOS and
  other UAs carrying a ``Mobi`` token -> Mobile; everything else (including TVs, consoles,
  crawlers, unknown) -> Desktop. iPadOS 13+ Safari sends a macOS UA by default and therefore
  counts as Desktop; nothing in the UA string can tell them apart.
* ``browser``: the ua-parser family, normalised to names analytics users know: the mobile and
  desktop variants are merged ("Chrome Mobile", "Chrome Mobile iOS" -> "Chrome"; "Mobile Safari"
  -> "Safari"; "Firefox Mobile"/"Firefox iOS" -> "Firefox"; "Edge Mobile" -> "Edge";
  "Opera Mobile" -> "Opera"; "IE" -> "Internet Explorer"), iOS in-app web views
  ("Mobile Safari UI/WKWebView") -> "Safari (in-app)", Android web views -> "Android WebView".
  See ``_BROWSER_NAMES``.
* ``browser_version``: the **major** version only ("120", "17").
* ``os``: "Windows", "macOS" (ua-parser says "Mac OS X"), "iOS", "Android", "Linux" (also for
  named distributions such as Ubuntu or Fedora), "Chrome OS", and ua-parser's name otherwise.
* ``os_version``: **major.minor**, or just major when the UA gives no minor ("14", "10.15",
  "17.4"). Windows reports "10" for both Windows 10 and 11 (their UAs are identical), and macOS
  browsers freeze the UA at "10.15". Chrome OS UAs carry a frozen build number, not a version,
  so its os_version is "".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ua_parser import Domain, load_lazy_builtins
from ua_parser.regex import Resolver as _RustResolver

__all__ = ["ClientInfo", "parse_client", "is_spider", "UA_CACHE_SIZE"]

UA_CACHE_SIZE = 32768


@dataclass(frozen=True, slots=True)
class ClientInfo:
    device: str
    browser: str
    browser_version: str
    os: str
    os_version: str


_BROWSER_NAMES = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Frame": "Chrome",
    "Chrome Mobile WebView": "Android WebView",
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari (in-app)",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Firefox Beta": "Firefox",
    "Firefox Alpha": "Firefox",
    "Firefox Nightly": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
    "Opera Tablet": "Opera",
    "Opera Touch": "Opera",
    "Ecosia Android": "Ecosia",
    "Ecosia iOS": "Ecosia",
    "IE": "Internet Explorer",
    "IE Mobile": "Internet Explorer",
    "Samsung Internet": "Samsung Internet",
    "DuckDuckGo Mobile": "DuckDuckGo",
    "Yandex Browser": "Yandex Browser",
    "Silk": "Amazon Silk",
    "MiuiBrowser": "MIUI Browser",
    "Google": "Google App",
    "Android": "Android Browser",
    "Other": "",
}

_OS_NAMES = {
    "Mac OS X": "macOS",
    "Mac OS": "macOS",
    "Other": "",
}
# Linux distributions ua-parser names individually; analytics users expect "Linux".
_LINUX_DISTROS = frozenset(
    {
        "Ubuntu", "Kubuntu", "Xubuntu", "Lubuntu", "Fedora", "Debian", "Red Hat", "CentOS",
        "Mint", "Linux Mint", "Arch Linux", "Gentoo", "Slackware", "SUSE", "openSUSE",
        "Mandriva", "PCLinuxOS", "Knoppix", "Elementary OS", "Manjaro",
    }
)
# OSes that only run on phones (or feature phones).
_MOBILE_OSES = frozenset(
    {
        "Windows Phone", "Windows Mobile", "Windows CE", "KaiOS", "BlackBerry OS", "BlackBerry",
        "Symbian OS", "Symbian^3", "Firefox OS", "Bada", "webOS", "MeeGo", "Sailfish",
        "Maemo", "Ubuntu Touch",
    }
)
_NO_VERSION_OSES = frozenset({"Chrome OS"})

# Device families/UA markers for tablets that do not follow the Android "no Mobile token" rule
# or where ua-parser already knows the model is a tablet.
_TABLET_FAMILY = re.compile(
    r"^(?:iPad|Kindle|Generic Tablet|Nexus (?:7|9|10)\b|Galaxy Tab|Xoom|PlayBook)"
    r"|Tablet|\bTab\b",
    re.IGNORECASE,
)
_TV_MARKERS = re.compile(
    r"Android TV|GoogleTV|SmartTV|SMART-TV|Smart TV|HbbTV|\bAFT[A-Z]|BRAVIA|\bCrKey\b|Tizen.*TV"
    r"|\bWebOS.*TV|Roku|PlayStation|Xbox|Nintendo"
)


@functools.cache
def _resolver() -> _RustResolver:
    # Built lazily (~0.2 s): compiling the builtin regexes is not free and not every process
    # that imports this module parses UAs.
    return _RustResolver(load_lazy_builtins())


def _version(major: str | None, minor: str | None) -> str:
    if not major:
        return ""
    if minor:
        return f"{major}.{minor}"
    return major


def _device(ua: str, os_name: str, family: str, brand: str) -> str:
    if family.startswith(("iPhone", "iPod")):
        return "Mobile"
    if _TV_MARKERS.search(ua):
        return "Desktop"
    if brand == "Generic_Android_Tablet" or (family and _TABLET_FAMILY.search(family)):
        return "Tablet"
    if os_name == "Android":
        return "Mobile" if "Mobile" in ua else "Tablet"
    if os_name in _MOBILE_OSES or family in ("Generic Smartphone", "Generic Feature Phone"):
        return "Mobile"
    if os_name == "iOS":
        return "Mobile"
    if "Mobi" in ua:
        return "Mobile"
    return "Desktop"


@functools.lru_cache(maxsize=UA_CACHE_SIZE)
def _parse(ua: str) -> tuple[ClientInfo, bool]:
    res = _resolver()(ua, Domain.ALL)
    uam, osm, dev = res.user_agent, res.os, res.device

    browser = browser_version = ""
    if uam is not None:
        browser = _BROWSER_NAMES.get(uam.family, uam.family)
        if browser:
            browser_version = uam.major or ""

    os_name = os_version = ""
    if osm is not None:
        fam = osm.family
        if fam in _LINUX_DISTROS:
            os_name = "Linux"
        else:
            os_name = _OS_NAMES.get(fam, fam)
            if os_name and fam not in _NO_VERSION_OSES:
                os_version = _version(osm.major, osm.minor)

    family = dev.family if dev is not None else ""
    brand = (dev.brand or "") if dev is not None else ""
    info = ClientInfo(
        device=_device(ua, os_name, family, brand),
        browser=browser,
        browser_version=browser_version,
        os=os_name,
        os_version=os_version,
    )
    return info, family == "Spider"


def parse_client(ua: str) -> ClientInfo:
    """Device type, browser and OS of a User-Agent string (memoised per string)."""
    return _parse(ua)[0]


def is_spider(ua: str) -> bool:
    """True when ua-parser classifies the UA's device as "Spider" (a crawler). Shares the cache
    of :func:`parse_client`."""
    return _parse(ua)[1]

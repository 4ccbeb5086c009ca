"""User-Agent parsing: device type, normalised browser/OS names and versions (real UA strings)."""

import pytest

from engine.enrich.useragent import ClientInfo, _parse, is_spider, parse_client

# (UA, device, browser, browser_version, os, os_version)
CASES = [
    # Desktop browsers
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36",
     "Desktop", "Chrome", "124", "Windows", "10"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
     "Desktop", "Edge", "124", "Windows", "10"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36 OPR/109.0.0.0",
     "Desktop", "Opera", "109", "Windows", "10"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
     "Desktop", "Firefox", "125", "Windows", "10"),
    ("Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
     "Desktop", "Internet Explorer", "11", "Windows", "7"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4.1 Safari/605.1.15",
     "Desktop", "Safari", "17", "macOS", "10.15"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0",
     "Desktop", "Firefox", "125", "macOS", "10.15"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36",
     "Desktop", "Chrome", "124", "Linux", ""),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
     "Desktop", "Firefox", "123", "Linux", ""),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36",
     "Desktop", "Chrome", "124", "Chrome OS", ""),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/122.0.0.0 YaBrowser/24.4.0.0 Safari/537.36",
     "Desktop", "Yandex Browser", "24", "Windows", "10"),
    # Phones
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
     "Mobile", "Safari", "17", "iOS", "17.4"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
     "Mobile", "Chrome", "124", "iOS", "17.4"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15",
     "Mobile", "Firefox", "125", "iOS", "17.4"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Mobile/15E148",
     "Mobile", "Safari (in-app)", "", "iOS", "18.7"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) GSA/307.0.616468690 Mobile/15E148 Safari/604.1",
     "Mobile", "Google App", "307", "iOS", "17.4"),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Mobile Safari/537.36",
     "Mobile", "Chrome", "124", "Android", "10"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
     "Mobile", "Samsung Internet", "24", "Android", "14"),
    ("Mozilla/5.0 (Android 14; Mobile; rv:124.0) Gecko/124.0 Firefox/124.0",
     "Mobile", "Firefox", "124", "Android", "14"),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Mobile Safari/537.36 OPR/81.0.0.0",
     "Mobile", "Opera", "81", "Android", "10"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240305.019; wv) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.105 Mobile Safari/537.36",
     "Mobile", "Android WebView", "122", "Android", "14"),
    ("Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977",
     "Mobile", "Edge", "15", "Windows Phone", "10.0"),
    ("Mozilla/5.0 (Mobile; LYF/F300B/LYF-F300B-001-01-15-130718-i;Android; rv:48.0) "
     "Gecko/48.0 Firefox/48.0 KAIOS/2.5",
     "Mobile", "Firefox", "48", "KaiOS", "2.5"),
    # Tablets
    ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/16.6 Mobile/15E148 Safari/604.1",
     "Tablet", "Safari", "16", "iOS", "16.6"),
    ("Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36",
     "Tablet", "Chrome", "120", "Android", "13"),
    ("Mozilla/5.0 (Android 14; Tablet; rv:124.0) Gecko/124.0 Firefox/124.0",
     "Tablet", "Firefox", "124", "Android", "14"),
    ("Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Silk/118.4.1 like Chrome/118.0.5993.111 Safari/537.36",
     "Tablet", "Amazon Silk", "118", "Android", "11"),
    # TVs count as Desktop even when they run Android
    ("Mozilla/5.0 (Linux; Android 12; BRAVIA 4K VH22 Build/STT2.221201.001) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/113.0.5672.77 Safari/537.36",
     "Desktop", "Chrome", "113", "Android", "12"),
    ("Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/88.0.4324.152 Mobile Safari/537.36",
     "Desktop", "Chrome", "88", "Android", "9"),
    # Unknown
    ("", "Desktop", "", "", "", ""),
    ("something odd", "Desktop", "", "", "", ""),
]


@pytest.mark.parametrize(
    "ua,device,browser,browser_version,os_name,os_version", CASES, ids=range(len(CASES))
)
def test_parse_client(ua, device, browser, browser_version, os_name, os_version):
    assert parse_client(ua) == ClientInfo(device, browser, browser_version, os_name, os_version)


def test_all_fields_are_strings():
    for ua, *_ in CASES:
        info = parse_client(ua)
        for value in (info.device, info.browser, info.browser_version, info.os, info.os_version):
            assert isinstance(value, str)


def test_result_is_cached_and_immutable():
    ua = CASES[0][0]
    first = parse_client(ua)
    hits = _parse.cache_info().hits
    assert parse_client(ua) is first
    assert _parse.cache_info().hits == hits + 1
    with pytest.raises(AttributeError):
        first.browser = "x"  # type: ignore[misc]


def test_uses_rust_resolver():
    from ua_parser.regex import Resolver

    from engine.enrich.useragent import _resolver

    assert isinstance(_resolver(), Resolver)


@pytest.mark.parametrize(
    "ua,spider",
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", True),
        (CASES[0][0], False),
        (CASES[11][0], False),
    ],
)
def test_is_spider(ua, spider):
    assert is_spider(ua) is spider

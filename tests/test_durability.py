"""A real server process: N accepted events become N stored rows, also when SIGTERM arrives
while every one of them is still in the writer's buffer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import CHROME_UA

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_EVENTS = 1500


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("server did not become healthy")


def _count_in_store(data_dir: str, site_id: int) -> int:
    # A separate process: chDB allows one data directory per process, and this test process
    # already holds the shared test store.
    code = (
        "import sys, json; from engine.store import Store, StoreConfig, default_dsn; "
        f"s = Store(StoreConfig(dsn=default_dsn({data_dir!r}))); "
        f"print(json.dumps(s.rows('SELECT count() FROM events WHERE site_id = {site_id}')[0][0]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def server(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "CLICKPORT_FLUSH_INTERVAL_S": "3600",   # nothing flushes by age during the test
        "CLICKPORT_BATCH_SIZE": "1000000",      # nor by size
        "CLICKPORT_ADMIN_TOKEN": "test-admin-token",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "--data-dir", str(tmp_path), "serve", "--port", str(port),
         "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
        yield proc, base, str(tmp_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigterm_with_a_full_buffer_loses_nothing(server):
    proc, base, data_dir = server
    admin = {"Authorization": "Bearer test-admin-token"}
    with httpx.Client(base_url=base, timeout=30) as http:
        site = http.post("/api/admin/sites", json={"domain": "durable.example"}, headers=admin).json()
        key = http.post(f"/api/admin/sites/{site['id']}/keys", json={}, headers=admin).json()["key"]
        accepted = 0
        for i in range(N_EVENTS):
            r = http.post(
                "/api/event",
                json={"url": f"https://durable.example/p{i % 17}"},
                headers={"x-api-key": key, "User-Agent": CHROME_UA,
                         "X-Forwarded-For": f"203.0.{i // 250}.{i % 250 + 1}"},
            )
            assert r.status_code == 200, r.text
            accepted += r.json()["session_id"] is not None
        status = http.get("/api/admin/status", headers=admin).json()
    assert accepted == N_EVENTS
    assert status["writer"]["pending"] == N_EVENTS and status["writer"]["inserted_rows"] == 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert _count_in_store(data_dir, site["id"]) == N_EVENTS

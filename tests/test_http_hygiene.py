"""HTTP hygiene against a real `clickport serve` (issue 10): request heads capped (431) and timed
(408), body read timeout, a client that leaves mid-body is a quiet counted outcome, no
Host-derived redirects, security headers everywhere, /metrics behind an optional token, public
revenue bounds."""

from __future__ import annotations

import dataclasses
import socket
import time

import httpx
import pytest

from tests.conftest import CHROME_UA
from tests.serverproc import ADMIN, ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(str(tmp_path_factory.mktemp("hygiene")), {
        "CLICKPORT_HEADER_TIMEOUT_S": "1", "CLICKPORT_BODY_TIMEOUT_S": "1",
        "CLICKPORT_MAX_HEADER_BYTES": "8192", "CLICKPORT_METRICS_TOKEN": "scrape-secret-123",
    }).start()
    yield proc
    proc.kill()


def _connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def _read_all(sock: socket.socket, timeout: float = 10) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, TimeoutError):
        pass
    return b"".join(chunks)


def test_oversized_headers_get_431_and_the_connection_closes(server):
    sock = _connect(server)
    sock.sendall(b"POST /api/event HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        for _ in range(64):  # 1 MB of header, never finished
            sock.sendall(b"a" * 16384)
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_a_slow_request_head_is_cut_off(server):
    sock = _connect(server)
    started = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # ... and never the blank line
    answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < 5
    idle = _connect(server)  # a connection that sends nothing at all
    started = time.monotonic()
    assert _read_all(idle).startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 5


def test_a_slow_body_is_cut_off_and_a_vanished_client_is_quiet(server):
    site_id, key = server.site_with_key("hygiene.example")
    head = (f"POST /api/event HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\nUser-Agent: {CHROME_UA}\r\n"
            "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n").encode()
    sock = _connect(server)
    sock.sendall(head + b'{"type": "pageview",')
    answer = _read_all(sock)
    assert b" 408 " in answer.split(b"\r\n")[0], answer[:200]
    # Clients that leave mid-body: no error log, no 5xx, a counted outcome.
    for _ in range(5):
        gone = _connect(server)
        gone.sendall(head + b'{"type": ')
        gone.close()
    time.sleep(1.5)
    metrics = httpx.get(server.base + "/metrics", headers={"Authorization": "Bearer scrape-secret-123"}).text
    assert "clickport_client_disconnects_total" in metrics
    count = next(float(line.split()[-1]) for line in metrics.splitlines()
                 if line.startswith("clickport_client_disconnects_total"))
    assert count >= 5
    log = server.log()
    assert "Traceback" not in log and "unhandled error" not in log


def test_metrics_need_the_token_when_one_is_set(server):
    assert httpx.get(server.base + "/metrics").status_code == 401
    assert httpx.get(server.base + "/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = httpx.get(server.base + "/metrics", headers={"Authorization": "Bearer scrape-secret-123"})
    assert ok.status_code == 200 and "clickport_events_accepted_total" in ok.text


def test_no_redirect_is_built_from_the_host_header(server):
    r = httpx.get(server.base + "/api/admin/sites/", headers={**ADMIN, "Host": "evil.example"})
    assert r.status_code == 404 and "location" not in r.headers


def test_security_headers_on_every_response(client, new_site):
    site = new_site()
    responses = [
        client.get("/healthz"),
        client.get("/dashboard"),
        client.get(f"/dashboard/{site.domain}"),
        client.get("/js/script.js"),
        client.post("/api/event", json={"url": f"https://{site.domain}/"},
                    headers={"x-api-key": site.key, "User-Agent": CHROME_UA}),
        client.post("/api/event", content=b"{", headers={"x-api-key": site.key}),
        client.get("/no/such/page"),
    ]
    for r in responses:
        assert r.headers["x-content-type-options"] == "nosniff", r.request.url
        csp = r.headers["content-security-policy"]
        script_src = csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in script_src
    page = client.get(f"/dashboard/{site.domain}").text
    assert "<script>" not in page and "<script src=" in page  # no inline script to allow


def test_metrics_are_open_without_a_token(app, client):
    assert app.state.config.metrics_token == ""
    assert client.get("/metrics").status_code == 200


def test_public_collect_bounds_revenue(client, new_site):
    site = new_site()
    for amount, status in ((-1e12, 400), (5e6, 400), (19.99, 200)):
        r = client.post("/api/collect", headers={"User-Agent": CHROME_UA, "Content-Type": "text/plain"},
                        content=httpx.Request("POST", "/", json={
                            "type": "custom", "name": "buy", "url": f"https://{site.domain}/",
                            "domain": site.domain, "revenue_amount": amount, "revenue_currency": "EUR",
                        }).content)
        assert r.status_code == status, r.text
        if status == 400:
            assert "revenue_amount" in r.json()["message"]


def test_config_defaults_bound_heads_and_bodies(app):
    config = app.state.config
    fields = {f.name for f in dataclasses.fields(config)}
    assert {"max_header_bytes", "header_timeout_s", "body_timeout_s", "keepalive_s"} <= fields
    assert config.max_header_bytes <= 64 * 1024 and config.header_timeout_s <= 30

"""HTTP hygiene against a real `clickport serve` (issue 10): request heads capped (431) and timed
(408), body read timeout, a client that leaves mid-body is a quiet counted outcome, no
Host-derived redirects, security headers everywhere, /metrics behind an optional token, public
revenue bounds, a request cap per keep-alive connection, a growing per-client backoff on wrong
admin / metrics tokens."""

from __future__ import annotations

import dataclasses
import socket
import time

import httpx
import pytest

from tests.conftest import CHROME_UA
from tests.serverproc import ADMIN, ADMIN_TOKEN, ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(str(tmp_path_factory.mktemp("hygiene")), {
        "CLICKPORT_HEADER_TIMEOUT_S": "1", "CLICKPORT_BODY_TIMEOUT_S": "1",
        "CLICKPORT_MAX_HEADER_BYTES": "8192", "CLICKPORT_METRICS_TOKEN": "scrape-secret-123",
        "CLICKPORT_MAX_REQUESTS_PER_CONNECTION": "3", "CLICKPORT_AUTH_FREE_FAILURES": "5",
        "CLICKPORT_AUTH_BACKOFF_MAX_S": "2",
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


def _responses(raw: bytes) -> list[bytes]:
    """The status line + headers of each response in a stream of `content-length` responses."""
    heads = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                       if line.startswith(b"content-length:")), 0)
        heads.append(head.lower())
        raw = rest[length:]
    return heads


def test_a_keep_alive_connection_closes_after_its_request_cap(server):
    sock = _connect(server)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    for _ in range(2):
        sock.sendall(request)
        time.sleep(0.2)
    sock.sendall(request)  # the third: CLICKPORT_MAX_REQUESTS_PER_CONNECTION=3
    raw = _read_all(sock, timeout=5)  # returns at EOF: the server closed the connection
    heads = _responses(raw)
    assert len(heads) == 3 and all(h.startswith(b"http/1.1 200") for h in heads), raw[:500]
    assert [b"connection: close" in h for h in heads] == [False, False, True]
    try:
        sock.sendall(request)
        assert sock.recv(100) == b""
    except (BrokenPipeError, ConnectionResetError):
        pass
    # An HTTP client just reconnects: ten requests on one pooled client all succeed.
    with httpx.Client(base_url=server.base) as http:
        assert [http.get("/healthz").status_code for _ in range(10)] == [200] * 10


def _from(address: str, token: str) -> dict[str, str]:
    # The test talks from loopback, a trusted proxy: X-Forwarded-For names the client.
    return {"X-Forwarded-For": address, "Authorization": f"Bearer {token}"}


def test_wrong_admin_tokens_get_a_growing_per_client_backoff(server):
    wrong = "guess-guess-guess-0"
    with httpx.Client(base_url=server.base, timeout=10) as http:
        answers = [http.get("/api/admin/sites", headers=_from("203.0.113.7", wrong)) for _ in range(40)]
        codes = [r.status_code for r in answers]
        # Five free failures, then 429 + Retry-After; blocked requests are not even compared.
        assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}, codes
        assert answers[5].headers["retry-after"] == "1"
        assert "retry after" in answers[5].json()["message"]
        blocked = http.get("/api/admin/sites", headers=_from("203.0.113.7", ADMIN_TOKEN))
        assert blocked.status_code == 429  # even the right token, while blocked
        # Other clients are untouched: right token 200, wrong token a plain 401.
        assert http.get("/api/admin/sites", headers=_from("198.51.100.9", ADMIN_TOKEN)).status_code == 200
        assert http.get("/api/admin/sites", headers=_from("198.51.100.9", wrong)).status_code == 401
        # The block grows: after the 1 s one, the next wrong guess starts a 2 s one (the cap here).
        time.sleep(1.1)
        again = http.get("/api/admin/sites", headers=_from("203.0.113.7", wrong))
        assert again.status_code == 429 and again.headers["retry-after"] == "2"
        time.sleep(2.1)
        capped = http.get("/api/admin/sites", headers=_from("203.0.113.7", wrong))
        assert capped.status_code == 429 and capped.headers["retry-after"] == "2"
        # After its block, the right token works again and clears the count.
        time.sleep(2.1)
        assert http.get("/api/admin/sites", headers=_from("203.0.113.7", ADMIN_TOKEN)).status_code == 200
        assert http.get("/api/admin/sites", headers=_from("203.0.113.7", wrong)).status_code == 401
        # An IPv6 client is one client per /64, whatever address of it it uses.
        codes = [http.get("/api/admin/sites", headers=_from(f"2001:db8:1:2::{i:x}", wrong)).status_code
                 for i in range(1, 8)]
        assert codes == [401] * 5 + [429] * 2
        # The admin token on the read routes (dashboard sign-in) and the /metrics token count too.
        headers = {"X-Forwarded-For": "192.0.2.44", "x-api-key": wrong, "x-clickport-site": "a.example"}
        codes = [http.post("/api/query", json={"metrics": ["visitors"]}, headers=headers).status_code
                 for _ in range(7)]
        assert codes == [401] * 5 + [429] * 2
        codes = [http.get("/metrics", headers=_from("192.0.2.45", "nope")).status_code for _ in range(7)]
        assert codes == [401] * 5 + [429] * 2
        metrics = http.get("/metrics", headers={"Authorization": "Bearer scrape-secret-123"}).text
        refused = next(float(line.split()[-1]) for line in metrics.splitlines()
                       if line.startswith("clickport_auth_backoff_refusals_total"))
        assert refused >= 40


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

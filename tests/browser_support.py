"""Shared plumbing for the real-browser tests (tests/test_browser_*.py).

- Chromium and ChromeDriver are Debian's `chromium` and `chromium-driver` packages
  (`scripts/install_browser.sh` installs them); Python drives them through Selenium.
- One Clickport server subprocess (own data directory, free loopback port) serves every browser
  test: chDB allows one data directory per process and the pytest process already holds one.
- Test sites are served by a small threaded HTTP server in the test process. Chromium maps every
  `*.test` host to 127.0.0.1 (`--host-resolver-rules`), so a site is `http://shop.example.test:<port>`
  and the tracker talks cross-origin to `http://127.0.0.1:<server port>` (real CORS).
- Chromium runs with `--disable-blink-features=AutomationControlled`, so `navigator.webdriver` is
  false and the production tracker runs unmodified (it does nothing under automation otherwise),
  and with a normal Chrome User-Agent (the server drops "HeadlessChrome" as a bot).
"""

from __future__ import annotations

import atexit
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx

from tests.conftest import missing_resource

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = os.environ.get("CLICKPORT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CLICKPORT_CHROMEDRIVER", "/usr/bin/chromedriver")
ADMIN_TOKEN = "browser-test-admin-token"
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
# Screenshots go here (CI can keep them as artifacts).
ARTIFACTS = os.environ.get("CLICKPORT_BROWSER_ARTIFACTS", os.path.join(ROOT, ".artifacts", "browser"))


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return (f"{path} not found: install Debian's {package} package "
                    "(scripts/install_browser.sh does it as root)")
    return None


def require_browser() -> None:
    reason = skip_reason()
    if reason:
        missing_resource(reason, module_level=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the Clickport server subprocess ------------------------------------------------------------


class ClickportServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = tempfile.mkdtemp(prefix="clickport-browser-")
        self.log_path = os.path.join(self.data_dir, "server.log")
        env = {
            **os.environ,
            "CLICKPORT_ADMIN_TOKEN": ADMIN_TOKEN,
            "CLICKPORT_FLUSH_INTERVAL_S": "0.05",
        }
        env.pop("CLICKPORT_CLICKHOUSE_URL", None)
        geo = _test_geo_db()
        if geo:
            env["CLICKPORT_GEOIP_PATH"] = geo
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "--data-dir", self.data_dir, "serve",
             "--port", str(self.port), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.base, timeout=30)
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log()}")
            try:
                if self.http.get("/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server did not become healthy:\n{self.log()}")

    def log(self) -> str:
        with open(self.log_path) as handle:
            return handle.read()[-5000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.http.close()
        self._log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # --- admin and API helpers ---

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        r = self.http.request(method, "/api/admin" + path, json=body,
                              headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert r.status_code in (200, 201), r.text
        return r.json()

    def create_site(self, domain: str, timezone: str = "UTC") -> tuple[str, str]:
        """A site with a read key and a tracker key: (read_key, tracker_key)."""
        self.admin("POST", "/sites", {"domain": domain, "timezone": timezone})
        read = self.admin("POST", f"/sites/{domain}/keys", {"permissions": ["read"]})["key"]
        track = self.admin("POST", f"/sites/{domain}/keys", {"permissions": ["tracker"]})["key"]
        return read, track

    def query(self, key: str, **body) -> dict:
        r = self.http.post("/api/query", json=body, headers={"x-api-key": key})
        assert r.status_code == 200, r.text
        return r.json()

    def get(self, key: str, path: str, **params) -> dict:
        r = self.http.get(path, params=params, headers={"x-api-key": key})
        assert r.status_code == 200, r.text
        return r.json()

    def wait_flushed(self, timeout: float = 10.0) -> None:
        """Until the writer holds nothing (accepted events are in ClickHouse)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.admin("GET", "/status")
            if _pending(status) == 0:
                return
            time.sleep(0.1)
        raise AssertionError(f"writer did not drain: {status}")


def _pending(status: dict) -> int:
    writer = status.get("writer", status)
    for name in ("pending", "buffered", "queued"):
        if isinstance(writer, dict) and isinstance(writer.get(name), int):
            return writer[name]
    return 0


def _test_geo_db() -> str | None:
    """MaxMind's GeoLite2-City-Test.mmdb (as tests/conftest.py installs it), so seeded visitors
    from its networks get countries and cities; without it they are "(not set)"."""
    from engine.enrich.geo_install import install_test_db

    cache = os.environ.get("CLICKPORT_TEST_GEO_DIR", os.path.expanduser("~/.cache/clickport/test-geo"))
    try:
        return str(install_test_db(cache))
    except Exception:  # noqa: BLE001 - no registry: run without a geo database
        return None


_server: ClickportServer | None = None


def shared_server() -> ClickportServer:
    """One server for all browser tests of the run (started on first use, stopped at exit)."""
    global _server
    if _server is None or _server.proc.poll() is not None:
        _server = ClickportServer()
        atexit.register(_server.stop)
    return _server


# --- test sites ---------------------------------------------------------------------------------


class SiteServer:
    """Serves `pages` (path → HTML; '*' is the SPA fallback) on a free loopback port."""

    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages
        self.port = free_port()
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?")[0]
                body = site.pages.get(path, site.pages.get("*"))
                if body is None:
                    self.send_error(404)
                    return
                data = body.replace("{PORT}", str(site.port)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- Chromium -----------------------------------------------------------------------------------


def chrome(window: str = "1280,800"):
    """A fresh headless Chromium with its own profile, driven by the system chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="clickport-chromium-")
    for arg in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={window}",
        "--host-resolver-rules=MAP *.test 127.0.0.1",
        # navigator.webdriver stays false, so the tracker runs as for a real visitor.
        "--disable-blink-features=AutomationControlled",
        f"--user-agent={BROWSER_UA}",
    ):
        options.add_argument(arg)
    # Network events (with request bodies) for asserting what the tracker sent.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.profile_dir = profile
    return driver


def quit_chrome(driver) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(driver.profile_dir, ignore_errors=True)


def sent_bodies(driver, url_part: str = "/api/collect") -> list[dict]:
    """The JSON bodies of requests to `url_part` since the last call (fetch and sendBeacon)."""
    bodies = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") != "Network.requestWillBeSent":
            continue
        request = message["params"]["request"]
        if url_part in request["url"] and request.get("method") == "POST":
            data = request.get("postData")
            if data is None and request.get("postDataEntries"):
                import base64
                data = b"".join(base64.b64decode(e.get("bytes", ""))
                                for e in request["postDataEntries"]).decode()
            if data:
                bodies.append(json.loads(data))
    return bodies


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.1, message: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or "timed out waiting")
        time.sleep(interval)

"""A real `clickport serve` process on a free loopback port, for tests that need signals,
restarts or their own data directory (chDB allows one data directory per process)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    def __init__(self, data_dir: str, env: dict[str, str] | None = None, log_level: str = "info"):
        self.log_level = log_level
        self.data_dir = data_dir
        self.env = {**os.environ, "CLICKPORT_ADMIN_TOKEN": ADMIN_TOKEN, **(env or {})}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(data_dir, f"server-{self.port}.log")

    def start(self, timeout: float = 60.0) -> ServerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "--data-dir", self.data_dir, "serve",
             "--port", str(self.port), "--log-level", self.log_level],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"server did not become healthy:\n{self.log()}")

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()[-5000:]

    def status(self) -> dict:
        return httpx.get(self.base + "/api/admin/status", headers=ADMIN, timeout=10).json()

    def wait_drained(self, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status["writer"]["pending"] == 0:
                return status
            time.sleep(0.2)
        raise AssertionError(f"events still pending: {self.status()}")

    def site_with_key(self, domain: str) -> tuple[int, str]:
        with httpx.Client(base_url=self.base, headers=ADMIN, timeout=30) as http:
            site = http.post("/api/admin/sites", json={"domain": domain}).json()
            key = http.post(f"/api/admin/sites/{site['id']}/keys", json={}).json()["key"]
        return site["id"], key

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait. Returns 0 for a graceful stop (uvicorn re-raises the signal after
        its shutdown completes, so the exit status is -SIGTERM then), else the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return 0 if code in (0, -signal.SIGTERM) and "stopped;" in self.log() else code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def query_store(data_dir: str, sql: str) -> list:
    """Run SQL against a stopped server's embedded store, in a separate process."""
    code = (
        "import json, sys; from engine.store import Store, StoreConfig, default_dsn; "
        "s = Store(StoreConfig(dsn=default_dsn(sys.argv[1]))); "
        "print(json.dumps([list(r) for r in s.rows(sys.argv[2])], default=str))"
    )
    out = subprocess.run([sys.executable, "-c", code, data_dir, sql], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])

"""A suite that cannot run its tests fails: under CI a missing resource is an error, not a skip."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_probe(tmp_path, ci: str) -> subprocess.CompletedProcess:
    probe = tmp_path / "test_probe.py"
    probe.write_text(textwrap.dedent("""
        from tests.conftest import missing_resource

        def test_needs_a_download():
            missing_resource("the registry is unreachable")
    """))
    env = {**os.environ, "CI": ci, "PYTHONPATH": ROOT}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "-c", os.devnull, str(probe)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )


def test_missing_resource_fails_under_ci(tmp_path):
    result = _run_probe(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    assert "1 failed" in result.stdout and "CI=true" in result.stdout


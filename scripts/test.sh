#!/usr/bin/env bash
# Set everything up and run the whole test suite (embedded store; server-mode tests skip without
# Docker or CLICKHOUSE_URL), then the linter.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh test
.venv/bin/clickport setup          # the real GeoIP database (tests of it skip without it)
bash scripts/install_browser.sh   # Chromium for tests/test_browser_*.py (or they skip)
.venv/bin/python -m pytest -q "$@"
.venv/bin/ruff check .

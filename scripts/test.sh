#!/usr/bin/env bash
# Set everything up and run the whole test suite (embedded store; server-mode tests skip without
# Docker or CLICKHOUSE_URL), then the linter.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh test
.venv/bin/python -m pytest -q "$@"
.venv/bin/ruff check .

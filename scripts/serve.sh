#!/usr/bin/env bash
# Set everything up and run the server on the embedded store (./data), on http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
.venv/bin/clickport setup || echo "serve.sh: continuing without a GeoIP database (see the message above)" >&2
exec .venv/bin/clickport serve "$@"

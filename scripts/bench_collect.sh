#!/usr/bin/env bash
# Throughput of the tracker's POST /api/collect vs POST /api/event on loopback, with wrk.
# A fresh server (embedded store in a temp dir) on a free port; each endpoint gets a warm-up run
# (fills the session cache) and a measured run with the same body shape, the same pool of 20,000
# visitor IPs (X-Forwarded-For; believed for /api/event because of the API key and for
# /api/collect because loopback is a trusted proxy) and the same connection count.
# Usage: bash scripts/bench_collect.sh [seconds=10] [connections=32]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_RUN="${1:-10}"
CONNECTIONS="${2:-32}"
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
PY=.venv/bin/python
DATA="$(mktemp -d)"
PORT="$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
export CLICKPORT_ADMIN_TOKEN=bench-admin
$PY -m server.cli --data-dir "$DATA" serve --port "$PORT" --log-level warning >"$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 300); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done
AUTH=(-H "Authorization: Bearer bench-admin")
curl -sf "${AUTH[@]}" -X POST "$BASE/api/admin/sites" -d '{"domain":"bench.example"}' >/dev/null
KEY="$(curl -sf "${AUTH[@]}" -X POST "$BASE/api/admin/sites/bench.example/keys" \
  -d '{"permissions":["tracker"]}' | $PY -c 'import json,sys; print(json.load(sys.stdin)["key"])')"

cat >"$DATA/bench.lua" <<'LUA'
-- BENCH_PATH, BENCH_KEY (empty: no API key, text/plain body as sendBeacon sends it),
-- BENCH_NET (first octet of the visitor IPs), BENCH_POOL (distinct IPs, used in turn).
local path = os.getenv("BENCH_PATH")
local key = os.getenv("BENCH_KEY")
local net = os.getenv("BENCH_NET")
local pool = tonumber(os.getenv("BENCH_POOL"))
local ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
local pages = {"/", "/pricing", "/docs", "/blog/a", "/blog/b", "/about"}
local n = 0
request = function()
  n = n + 1
  local v = n % pool
  local ip = net .. "." .. math.floor(v / 65536) % 256 .. "." .. math.floor(v / 256) % 256 .. "." .. v % 256
  local headers = {["User-Agent"] = ua, ["X-Forwarded-For"] = ip}
  if key ~= "" then
    headers["x-api-key"] = key
    headers["Content-Type"] = "application/json"
  else
    headers["Content-Type"] = "text/plain;charset=UTF-8"
  end
  local body = '{"type":"pageview","domain":"bench.example","url":"https://bench.example'
    .. pages[n % #pages + 1] .. '","referrer":"https://www.google.com/","screen_width":1440}'
  return wrk.format("POST", path, headers, body)
end
LUA

run() {  # endpoint key net pool seconds
  BENCH_PATH="$1" BENCH_KEY="$2" BENCH_NET="$3" BENCH_POOL="$4" \
    wrk -t1 -c"$CONNECTIONS" -d"${5}s" --latency -s "$DATA/bench.lua" "$BASE"
}
show() { grep -E "Requests/sec|50%|99%|Non-2xx|requests in"; }
dropped() { curl -sf "${AUTH[@]}" "$BASE/api/admin/status" | $PY -c 'import json,sys; print("dropped so far:", json.load(sys.stdin)["dropped"])'; }

net=10
for endpoint in /api/event /api/collect; do
  key=""; [ "$endpoint" = /api/event ] && key="$KEY"
  echo "=== POST $endpoint: new visitors (every request a visitor not seen before) ==="
  run "$endpoint" "$key" "$net" 16000000 "$SECONDS_RUN" | show
  net=$((net + 1))
  echo "=== POST $endpoint: returning visitors (1,000 IPs, sessions cached by a 20 s warm-up) ==="
  run "$endpoint" "$key" "$net" 1000 20 >/dev/null
  run "$endpoint" "$key" "$net" 1000 "$SECONDS_RUN" | show
  net=$((net + 1))
  dropped
done

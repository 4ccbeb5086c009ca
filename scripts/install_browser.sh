#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the real-browser tests (tests/test_browser_*.py).
# Installs them only when running as root with apt-get; otherwise it says so and those tests skip
# with the reason. Never fails the test run. Set CLICKPORT_SKIP_BROWSER_INSTALL=1 to skip.
set -uo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "${CLICKPORT_SKIP_BROWSER_INSTALL:-}" = "1" ]; then
  echo "install_browser: skipped (CLICKPORT_SKIP_BROWSER_INSTALL=1); browser tests will skip" >&2
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_browser: not root or no apt-get; install the chromium and chromium-driver" \
       "packages to run the browser tests (they skip until then)" >&2
  exit 0
fi
log="$(mktemp)"
echo "install_browser: apt-get install chromium chromium-driver ..." >&2
if DEBIAN_FRONTEND=noninteractive timeout 900 sh -c \
     'apt-get update -qq && apt-get install -y -qq chromium chromium-driver' >"$log" 2>&1; then
  echo "install_browser: $(/usr/bin/chromium --version 2>/dev/null)" >&2
else
  echo "install_browser: apt-get failed (browser tests will skip); last lines:" >&2
  tail -5 "$log" >&2
fi
rm -f "$log"
exit 0

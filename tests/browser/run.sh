#!/bin/sh
# SPDX-License-Identifier: MIT
# The web console in a real browser: Debian's chromium driven by
# playwright-core (pinned in package.json / package-lock.json, installed here
# with `npm ci` when missing or when the lock file changed; no browser is
# downloaded).  Each *.test.mjs starts its own airhook on a free port (harness.mjs).
#
# Usage: tests/browser/run.sh [AIRHOOK_BINARY] [SCREENSHOT_DIR]
#   AIRHOOK_BINARY   default build-test/airhook
#   SCREENSHOT_DIR   where each page's screenshots go (default
#                    build-test/console-screenshots); copy them to
#                    docs/console/ to update the committed ones.
# Without node/npm or chromium it skips (exit 0) unless CI=true.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=${1:-$root/build-test/airhook}
shots=${2:-$root/build-test/console-screenshots}
chromium=${CHROMIUM:-/usr/bin/chromium}

skip() {
  if [ "${CI:-}" = true ]; then
    echo "browser: $1, and CI=true: failing" >&2
    exit 1
  fi
  echo "browser: SKIPPED: $1" >&2
  exit 0
}
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || skip "node/npm not found"
[ -x "$chromium" ] || skip "$chromium not found (apt-get install chromium)"

stamp="$here/node_modules/.airhook-lock"
want=$(cksum <"$here/package-lock.json")
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "browser: installing playwright-core (npm ci)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >&2
  echo "$want" >"$stamp"
fi
mkdir -p "$shots"
AIRHOOK_BINARY=$binary SCREENSHOT_DIR=$shots CHROMIUM=$chromium \
  node --test --test-concurrency=1 "$here"/*.test.mjs

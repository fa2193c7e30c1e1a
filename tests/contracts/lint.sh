#!/bin/sh
# SPDX-License-Identifier: MIT
# Lints airhook's contract documents, the way `make contracts` runs it:
#   1. docs/openapi.json is docs/openapi.yaml, and docs/asyncapi.yaml's
#      channels are data/triggers.json's triggers (scripts/contracts.py check:
#      the server answers the JSON, people edit the YAML and the catalog);
#   2. Redocly CLI lints docs/openapi.yaml and docs/asyncapi.yaml with its
#      recommended rules (redocly.yaml); a warning fails like an error;
#   3. the AsyncAPI reference parser validates docs/asyncapi.yaml
#      (validate-asyncapi.mjs).
# The npm packages are pinned in package.json / package-lock.json and
# installed here with `npm ci` (node_modules/, git-ignored) when missing or
# when the lock file changed.  Without node/npm the npm checks are skipped,
# loudly, unless CI=true, where that is a failure.
# Prints "contracts: N passed, N failed" last; exits non-zero on any failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "contracts: ok: $1"; }
fail() { failed=$((failed + 1)); echo "contracts: FAILED: $1" >&2; }
finish() {
  echo "contracts: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

if python3 "$root/scripts/contracts.py" check; then
  pass "docs/openapi.json is docs/openapi.yaml; docs/asyncapi.yaml's channels are the catalog"
else
  fail "generated contract parts are stale (make openapi-json, make asyncapi-channels)"
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "${CI:-}" = true ]; then
    fail "node/npm not found, and CI=true"
  else
    echo "contracts: SKIPPED the linters: node/npm not found (install nodejs and npm)" >&2
  fi
  finish
fi

# The pinned linters, installed from the lock file when missing or stale.
stamp="$here/node_modules/.airhook-lock"
want=$(cksum <"$here/package-lock.json")
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "contracts: installing the pinned linters (npm ci)"
  if (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >&2; then
    echo "$want" >"$stamp"
  else
    fail "npm ci in tests/contracts"
    finish
  fi
fi

# Redocly's telemetry and update check would reach for the network.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
out=$(cd "$here" && ./node_modules/.bin/redocly lint --config redocly.yaml 2>&1)
rc=$?
echo "$out"
if [ $rc -ne 0 ]; then
  fail "redocly lint: errors"
elif echo "$out" | grep -qiE '[0-9]+ warnings?\b'; then
  fail "redocly lint: warnings"
else
  pass "redocly lint docs/openapi.yaml docs/asyncapi.yaml"
fi

if (cd "$here" && node validate-asyncapi.mjs "$root/docs/asyncapi.yaml"); then
  pass "AsyncAPI parser validates docs/asyncapi.yaml"
else
  fail "AsyncAPI parser: docs/asyncapi.yaml"
fi
finish

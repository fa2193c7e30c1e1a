#!/bin/sh
# SPDX-License-Identifier: MIT
# Interop check, both ways, with the Standard Webhooks reference library (the
# `standardwebhooks` npm package, pinned in package.json):
# - signatures made by airhook's ah_sign must be accepted by its verifier,
#   and tampered ones refused (make_sample.c, verify.mjs);
# - deliveries it signs must get the expected result from libairhook-verify
#   (sign.mjs, check_verify.c): valid ones OK, tampered ones a bad signature,
#   stale and future ones too old and too new.
#
# Usage: tests/interop/run.sh [BUILD_DIR] [CAPTURED.json ...]
#   BUILD_DIR   a configured and built tree holding libairhook_lib.a and
#               libairhook-verify.a (default: build-test); make_sample.c and
#               check_verify.c are compiled against them
#               with that tree's compiler and sanitizer flags.  Override with
#               INTEROP_CC / INTEROP_CFLAGS.
#   CAPTURED    extra samples (for example real captured deliveries, in the
#               format verify.mjs reads) that must verify.
# Samples named ok_*.json must verify, bad_*.json must be rejected.  Prints
# "N passed, M failed"; exits non-zero on any failure.  Without node, it
# skips (exit 0) unless CI=true, where that is a failure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-test}
[ $# -gt 0 ] && shift
case $build in /*) ;; *) build=$(pwd)/$build ;; esac

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "${CI:-}" = true ]; then
    echo "interop: node/npm not found, and CI=true: failing" >&2
    exit 1
  fi
  echo "interop: SKIPPED: node/npm not found (install nodejs and npm to run it)" >&2
  exit 0
fi

lib=$build/libairhook_lib.a
if [ ! -f "$lib" ]; then
  echo "interop: $lib not found: build that tree first (make build-test)" >&2
  exit 1
fi

# The pinned verifier, installed from the lock file when missing or stale.
want=$(cd "$here" && node -p "require('./package.json').dependencies.standardwebhooks")
have=$(cd "$here" && node -p "require('./node_modules/standardwebhooks/package.json').version" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "interop: installing standardwebhooks@$want"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi

# Compile the sample writer like the tree's own code.
cache=$build/CMakeCache.txt
cache_get() { sed -n "s/^$1:[A-Z]*=//p" "$cache" 2>/dev/null | head -1; }
cc=${INTEROP_CC:-$(cache_get CMAKE_C_COMPILER)}
cc=${cc:-cc}
if [ -z "${INTEROP_CFLAGS+x}" ]; then
  cflags="-std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Werror $(cache_get CMAKE_C_FLAGS)"
  if [ "$(cache_get AH_SANITIZE)" = ON ]; then
    cflags="$cflags -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  fi
else
  cflags=$INTEROP_CFLAGS
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# shellcheck disable=SC2086 # cflags and pkg-config output are word lists
"$cc" $cflags -I"$root/include" -I"$root/src" "$here/make_sample.c" "$lib" \
  $(pkg-config --libs libmicrohttpd libcurl jansson sqlite3 openssl) -lpthread -lm \
  -o "$scratch/make_sample"
mkdir "$scratch/samples"
"$scratch/make_sample" "$scratch/samples"

passed=0
failed=0
check() { # FILE EXPECT(ok|bad)
  if out=$(node "$here/verify.mjs" "$1" 2>&1); then got=ok; else got=bad; fi
  if [ "$got" = "$2" ]; then
    passed=$((passed + 1))
    echo "pass $(basename "$1") ($2)"
  else
    failed=$((failed + 1))
    echo "FAIL $(basename "$1"): expected $2, verifier said: $out"
  fi
}
for f in "$scratch"/samples/ok_*.json; do check "$f" ok; done
for f in "$scratch"/samples/bad_*.json; do check "$f" bad; done
for f in "$@"; do check "$f" ok; done

# The other way: the reference library signs, libairhook-verify checks.
# shellcheck disable=SC2086
"$cc" $cflags -I"$root/include" "$here/check_verify.c" "$build/libairhook-verify.a" \
  $(pkg-config --libs jansson libcrypto) -lpthread -o "$scratch/check_verify"
mkdir "$scratch/reverse"
node "$here/sign.mjs" "$scratch/reverse"
out=$("$scratch/check_verify" "$scratch"/reverse/*.json) || true
printf '%s\n' "$out"
passed=$((passed + $(printf '%s\n' "$out" | grep -c '^pass ' || true)))
failed=$((failed + $(printf '%s\n' "$out" | grep -c '^FAIL ' || true)))
[ "$(ls "$scratch"/reverse/*.json | wc -l)" -ge 14 ] || {
  echo "FAIL sign.mjs wrote fewer samples than expected"
  failed=$((failed + 1))
}

echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, starting from the
# committed corpus (tests/fuzz/corpus/<name>/) and writing new inputs to a
# scratch copy so the tree stays clean.  Usage: run.sh BUILD_DIR SECONDS
set -eu
build=$1
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for bin in "$build"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin" | sed 's/^fuzz_//')
  mkdir -p "$scratch/$name"
  [ -d "$here/corpus/$name" ] && cp "$here/corpus/$name"/* "$scratch/$name"/ 2>/dev/null || true
  printf 'fuzz %s: %ss ... ' "$name" "$secs"
  if ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
       -artifact_prefix="$scratch/" "$scratch/$name" >"$scratch/$name.log" 2>&1; then
    grep -E '^Done [0-9]+ runs' "$scratch/$name.log" || echo ok
  else
    echo FAILED
    tail -40 "$scratch/$name.log"
    status=1
  fi
done
exit $status

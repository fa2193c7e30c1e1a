#!/bin/sh
# SPDX-License-Identifier: MIT
# check-layers.sh: dependencies point down.
#
# The folders under src/ are layers, and a file may include headers of its
# own folder and of lower layers only:
#
#   include/airhook (the public headers)              level 0
#   src/verify   libairhook-verify, built on its own    level 1 (includes only
#                                                      airhook/verify.h)
#   src/common   buffers, json, ids, time, log, metrics  level 1
#   src/http, src/store                                level 2 (not each other)
#   src/delivery                                       level 3
#   src/api                                            level 4
#   src/cli                                            level 5
#
# So when the delivery engine needs to count something, the counter lives in
# common, not in the API.  The check is a grep of the `#include "..."` lines
# in src/: each one that points up (or sideways, http <-> store) is printed
# as file:line with the two layers, and the script exits 1.  A folder that is
# in no layer is an error too: put it in the table below.
#
# Usage: scripts/check-layers.sh [ROOT]    check ROOT/src (default: this repository)
#        scripts/check-layers.sh --self-test
#                                           check that an upward include is caught
set -eu

here=$(cd "$(dirname "$0")" && pwd)

check() {
    root=$1
    find "$root/src" -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort |
        xargs grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' /dev/null |
        awk -v prefix="$root/src/" '
BEGIN {
    # The layer table: one row per folder (include/airhook is "airhook/...").
    level["airhook"] = 0
    level["verify"] = 1
    level["common"] = 1
    level["http"] = 2
    level["store"] = 2
    level["delivery"] = 3
    level["api"] = 4
    level["cli"] = 5
    bad = 0
}
{
    # file:line:text
    i = index($0, ":"); file = substr($0, 1, i - 1); rest = substr($0, i + 1)
    j = index(rest, ":"); line = substr(rest, 1, j - 1); text = substr(rest, j + 1)
    rel = substr(file, length(prefix) + 1)           # api/events.c
    own = index(rel, "/") ? substr(rel, 1, index(rel, "/") - 1) : ""
    hdr = substr(text, index(text, "\"") + 1)
    hdr = substr(hdr, 1, index(hdr, "\"") - 1)      # common/metrics.h
    path = hdr
    while (substr(path, 1, 2) == "./")
        path = substr(path, 3)
    if (substr(path, 1, 3) == "../") {               # "../store/store.h" from a folder
        path = substr(path, 4)
        target = index(path, "/") ? substr(path, 1, index(path, "/") - 1) : ""
    } else if (index(path, "/")) {
        target = substr(path, 1, index(path, "/") - 1)
    } else {
        target = own                                 # "x.h": next to the file
    }
    where = "src/" rel ":" line
    if (!(own in level)) {
        printf "%s: src/%s is in no layer (add it to scripts/check-layers.sh)\n", where, own
        bad = 1
    } else if (!(target in level)) {
        printf "%s: includes \"%s\", which is in no layer\n", where, hdr
        bad = 1
    } else if (own == "verify" && target != "verify" && hdr != "airhook/verify.h") {
        printf "%s: verify includes \"%s\": libairhook-verify is built alone, from airhook/verify.h only\n",
            where, hdr
        bad = 1
    } else if (target != own && level[target] >= level[own]) {
        printf "%s: %s (level %d) includes \"%s\" (%s, level %d): dependencies point down\n",
            where, own, level[own], hdr, target, level[target]
        bad = 1
    }
}
END { exit bad }'
}

# Builds a small tree with allowed includes, checks it passes, then adds an
# upward and a sideways include and checks both are reported.
self_test() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-layers.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT INT TERM
    mkdir -p "$tmp/src/common" "$tmp/src/http" "$tmp/src/store" "$tmp/src/delivery" \
        "$tmp/src/api"
    printf '#include "airhook/airhook.h"\n' >"$tmp/src/common/metrics.h"
    printf '#include "common/metrics.h"\n#include "store/store.h"\n#include "sign.h"\n' \
        >"$tmp/src/delivery/dispatcher.c"
    printf '#include "delivery/dispatcher.h"\n#include <api/fine.h>\n' >"$tmp/src/api/app.h"
    if ! out=$(check "$tmp"); then
        echo "check-layers self-test: a tree with downward includes only was refused:" >&2
        echo "$out" >&2
        return 1
    fi
    printf '#include "common/log.h"\n#include "api/metrics.h"\n' >"$tmp/src/delivery/up.c"
    printf '#include "store/store.h"\n' >"$tmp/src/http/server.c"
    mkdir -p "$tmp/src/verify"
    printf '#include "airhook/verify.h"\n#include "airhook/airhook.h"\n' >"$tmp/src/verify/verify.c"
    if out=$(check "$tmp"); then
        echo "check-layers self-test: an upward include was not caught" >&2
        return 1
    fi
    for want in 'src/delivery/up.c:2: delivery (level 3) includes "api/metrics.h"' \
        'src/http/server.c:1: http (level 2) includes "store/store.h"' \
        'src/verify/verify.c:2: verify includes "airhook/airhook.h"'; do
        case $out in
        *"$want"*) ;;
        *)
            printf 'check-layers self-test: expected "%s" in:\n%s\n' "$want" "$out" >&2
            return 1
            ;;
        esac
    done
    [ "$(printf '%s\n' "$out" | wc -l)" -eq 3 ] || {
        printf 'check-layers self-test: expected 3 lines, got:\n%s\n' "$out" >&2
        return 1
    }
    echo "check-layers: self-test passed (an upward, a sideways and a library's outside include are refused)"
}

case ${1:-} in
--self-test)
    self_test
    ;;
-h | --help)
    sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
    ;;
*)
    root=${1:-$here/..}
    root=$(cd "$root" && pwd)
    if ! check "$root"; then
        echo "check-layers: upward includes in src/ (see the table in scripts/check-layers.sh)" >&2
        exit 1
    fi
    n=$(find "$root/src" -type f \( -name '*.c' -o -name '*.h' \) | wc -l)
    echo "check-layers: $((n)) files in src/ include only their own and lower layers"
    ;;
esac

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/compare.sh: two airhook revisions in one sitting, alternating.
#
#   bench/compare.sh BEFORE_REV [AFTER_REV] [--rounds N] [--only NAME[,NAME...]]
#
# Builds BEFORE_REV (a commit, branch or tag) in a temporary git worktree
# (release build, as `make build` does), and AFTER_REV the same way (default:
# the working tree's build/airhook, built by `make build` first).  Then runs
# `bench/run.sh --quick --only SCENARIOS` against each binary in turn,
# before, after, before, after, ... for N rounds (default 3), so that drift
# of a shared machine falls on both alike, and prints, per scenario, every
# round's figure and airhook's CPU time per operation, and their medians.
# Scenarios default to api-list,api-register,ingest,delivery.  Every round's
# RESULTS file stays in the work directory it prints.  The worktrees are
# removed at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BEFORE=""
AFTER=""
ROUNDS=3
ONLY=api-list,api-register,ingest,delivery
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) ROUNDS=$2; shift ;;
    --only) ONLY=$2; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "compare.sh: unknown flag $1" >&2; exit 2 ;;
    *) if [ -z "$BEFORE" ]; then BEFORE=$1; elif [ -z "$AFTER" ]; then AFTER=$1; else
           echo "compare.sh: too many revisions" >&2; exit 2; fi ;;
    esac
    shift
done
[ -n "$BEFORE" ] || { sed -n '2,16p' "$0"; exit 2; }

WORK=$(mktemp -d /tmp/ah-compare.XXXXXX)
TREES=()
cleanup() {
    for t in "${TREES[@]}"; do git -C "$ROOT" worktree remove --force "$t" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# build_rev REV DIR: a release build of REV in worktree DIR; prints the binary.
build_rev() {
    git -C "$ROOT" worktree add -q --detach "$2" "$1"
    cmake -S "$2" -B "$2/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAH_TESTS=OFF >/dev/null
    cmake --build "$2/build" -j"$(nproc)" >/dev/null
    echo "$2/build/airhook"
}

echo "compare: building $BEFORE" >&2
TREES+=("$WORK/before") # registered here: build_rev runs in a subshell
BIN_BEFORE=$(build_rev "$BEFORE" "$WORK/before")
if [ -n "$AFTER" ]; then
    echo "compare: building $AFTER" >&2
    TREES+=("$WORK/after")
    BIN_AFTER=$(build_rev "$AFTER" "$WORK/after")
    AFTER_NAME=$AFTER
else
    make -C "$ROOT" --no-print-directory build >/dev/null
    BIN_AFTER=$ROOT/build/airhook
    AFTER_NAME="working tree"
fi

for r in $(seq 1 "$ROUNDS"); do
    for side in before after; do
        bin=$BIN_BEFORE
        [ "$side" = after ] && bin=$BIN_AFTER
        echo "compare: round $r of $ROUNDS, $side" >&2
        BENCH_AIRHOOK=$bin BENCH_RESULTS=$WORK/$side-$r.md \
            bash "$ROOT/bench/run.sh" --quick --only "$ONLY" >"$WORK/$side-$r.log" 2>&1
    done
done

python3 - "$WORK" "$ROUNDS" "$BEFORE" "$AFTER_NAME" <<'EOF'
import re, statistics, sys
work, rounds, before, after = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
cpu_pat = {
    "api-list": r"airhook used ([\d.]+) µs of CPU per request",
    "api-register": r"([\d.]+) µs of airhook CPU per registration",
    "ingest": r"airhook used ([\d.]+) µs of CPU per event",
    "delivery": r"airhook used ([\d.]+) µs of CPU per delivery",
}
rows = {}
for side in ("before", "after"):
    for r in range(1, rounds + 1):
        text = open(f"{work}/{side}-{r}.md").read()
        for line in text.splitlines():
            m = re.match(r"\| ([a-z0-9-]+) \| ([\d.]+) ", line)
            if m:
                rows.setdefault(m.group(1), {}).setdefault(side, {"fig": [], "cpu": []})
                rows[m.group(1)][side]["fig"].append(float(m.group(2)))
        for name, pat in cpu_pat.items():
            m = re.search(pat, text)
            if m and name in rows:
                rows[name][side]["cpu"].append(float(m.group(1)))
print(f"before = {before}, after = {after}; {rounds} alternating rounds of bench/run.sh --quick")
print("| scenario | before (each round) | after (each round) | median after / before | CPU µs/op before → after (medians) |")
print("| --- | --- | --- | --- | --- |")
for name, sides in rows.items():
    b, a = sides.get("before"), sides.get("after")
    if not b or not a:
        continue
    mb, ma = statistics.median(b["fig"]), statistics.median(a["fig"])
    cpu = ""
    if b["cpu"] and a["cpu"]:
        cpu = f"{statistics.median(b['cpu']):.1f} → {statistics.median(a['cpu']):.1f}"
    fmt = lambda xs: ", ".join(f"{x:.0f}" for x in xs)
    print(f"| {name} | {fmt(b['fig'])} | {fmt(a['fig'])} | {ma / mb * 100:.0f} % | {cpu} |")
print(f"(rounds' RESULTS files: {work})")
EOF

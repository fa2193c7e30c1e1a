#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/run.sh: airhook against this machine's ceiling (issue 4).
#
#   bench/run.sh [--quick] [--only NAME[,NAME...]] [--no-profile] [--keep]
#
# Scenarios: api-list api-register ingest delivery live latency isolation backlog
# footprint delivery-pg pg soak.  Each starts a fresh `build/airhook serve` (release build) on
# 127.0.0.1:0 with a fresh SQLite file in a temporary directory, seeds it
# through the admin and public APIs, measures the figure and its baseline in
# the same run, and stops every process it started by PID.  Prints the table
# and writes bench/RESULTS.md after a full run of every scenario
# (bench/RESULTS-quick.md with --quick; nothing with --only unless
# BENCH_RESULTS=path is set); the soak scenario's plot goes beside them
# (bench/soak.svg, bench/soak-quick.svg).  A missed target is profiled (perf) on a short
# extra run of the same server, and the top functions go into RESULTS.md;
# not with --quick (BENCH_PROFILE=1 forces it, BENCH_PROFILE=0 or
# --no-profile turns it off).
#
# Environment: BENCH_RESULTS (where to write the results), BENCH_PROFILE,
# BENCH_PROFILE_ALL=1 (profile met targets too), BENCH_WRK_THREADS (default:
# nproc), BENCH_CONNS (64), BENCH_AIRHOOK (another
# airhook binary to measure, e.g. a modified build, instead of build/airhook),
# BENCH_AIRHOOK_FLAGS (extra flags for every airhook serve, e.g. --threads 64),
# BENCH_SOAK_RETENTION (the soak's --retention; 0 runs it without the purge,
# for comparison), BENCH_DELIVERY_RATE (the delivery capacity the soak
# publishes half of when the delivery row did not run, instead of a burst:
# builds compared at the same load), BENCH_LAT_RATE (the latency scenario's
# events/s, default 200, which its target is for: other rates show how the
# tail grows with the load), BENCH_ISO_PAIRS (the isolation scenario's pairs
# of rounds, default 4), BENCH_LIVE_PAIRS (the live scenario's, default 3).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
AIRHOOK=${BENCH_AIRHOOK:-$ROOT/build/airhook}
BB=$ROOT/build/bench
# The interpreter itself, resolved once: a wrapper on the PATH (pyenv's shims
# are shell scripts that fork a dozen processes) made every python3 call cost
# ~350 ms of CPU, and wait_count polls five times a second while the
# scenarios measure: a core of the machine went to the harness.
PY=$(python3 -c 'import sys; print(sys.executable)')
UTIL="$PY $ROOT/bench/util.py"
LUA=$ROOT/bench/lua

QUICK=0
ONLY=""
PROFILE=${BENCH_PROFILE:-}
KEEP=0
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --only) ONLY=$2; shift ;;
    --no-profile) PROFILE=0 ;;
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

ALL="api-list api-register ingest delivery live latency isolation backlog footprint delivery-pg pg soak"
SCENARIOS=${ONLY:-$ALL}
SCENARIOS=${SCENARIOS//,/ }
if [ -n "${BENCH_RESULTS:-}" ]; then
    RESULTS=$BENCH_RESULTS
elif [ -z "$ONLY" ] && [ "$QUICK" = 1 ]; then
    RESULTS=$ROOT/bench/RESULTS-quick.md
elif [ -z "$ONLY" ]; then
    RESULTS=$ROOT/bench/RESULTS.md
else
    RESULTS=""
fi

NPROC=$(nproc)
WRK_T=${BENCH_WRK_THREADS:-$NPROC}
CONNS=${BENCH_CONNS:-64}
TOKEN=bench-admin-token
TRIGGER=trigger.airmeet.registrant.added
if [ "$QUICK" = 1 ]; then
    DUR=3            # seconds of each wrk run
    WARM=1           # seconds of wrk warm-up before it
    EVENTS=1500      # events published in delivery / isolation (x10 deliveries)
    LAT_SECS=4       # seconds of steady publishing in latency
    BACKLOG=50000    # deliveries queued in backlog
    HOOKS=10000      # webhooks registered in footprint
    PROF_SECS=3
    SOAK_SECS=60     # seconds of steady publishing in soak
    SOAK_RETENTION=${BENCH_SOAK_RETENTION:-15s}
    PROFILE=${PROFILE:-0}
else
    DUR=8
    WARM=2
    EVENTS=10000
    LAT_SECS=15
    BACKLOG=1000000
    HOOKS=100000
    PROF_SECS=5
    SOAK_SECS=300
    SOAK_RETENTION=${BENCH_SOAK_RETENTION:-60s}
    PROFILE=${PROFILE:-1}
fi

for bin in "$AIRHOOK" "$BB/bench_baseline" "$BB/bench_receiver" "$BB/bench_loadgen"; do
    [ -x "$bin" ] || { echo "run.sh: $bin is missing: run make build first" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "run.sh: wrk is missing (apt-get install wrk)" >&2; exit 1; }
if [ "$PROFILE" = 1 ] && ! perf record -q -o /dev/null -e cpu-clock -- true >/dev/null 2>&1; then
    echo "run.sh: perf does not work here (apt-get install linux-perf); profiles skipped" >&2
    PROFILE=0
fi
# Uprobes for the write lock (store_sqlite.c: tx_begin returns holding it,
# tx_end returns after releasing it) and SQLite's checkpoints, in our own
# group so that cleanup removes only them.  Best effort.
LOCKPROBE=0
if [ "$PROFILE" = 1 ]; then
    perf probe -q -d 'ahbench:*' >/dev/null 2>&1 || true
    SQLITE_SO=$(ldd "$AIRHOOK" | awk '/libsqlite3/ {print $3}')
    if perf probe -q -x "$AIRHOOK" -a 'ahbench:txb=tx_begin%return' >/dev/null 2>&1 &&
        perf probe -q -x "$AIRHOOK" -a 'ahbench:txe=tx_end%return' >/dev/null 2>&1 &&
        perf probe -q -x "$(readlink -f "$SQLITE_SO")" -a 'ahbench:ckpt=sqlite3_wal_checkpoint_v2' \
            -a 'ahbench:ckptr=sqlite3_wal_checkpoint_v2%return' >/dev/null 2>&1; then
        LOCKPROBE=1
    else
        perf probe -q -d 'ahbench:*' >/dev/null 2>&1 || true
    fi
fi
# Many connections at once (backlog holds ~1k, wrk 64 per server).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d /tmp/airhook-bench.XXXXXX)
PIDS=()
TSV=$WORK/results.tsv
DETAILS=$WORK/details.md
PROFILES=$WORK/profiles.md
: >"$TSV"
: >"$DETAILS"
: >"$PROFILES"

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    [ "$LOCKPROBE" = 1 ] && perf probe -q -d 'ahbench:*' >/dev/null 2>&1
    if [ "$KEEP" = 1 ]; then echo "run.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The whole run stays under 10 minutes (2 with --quick), and the soak's own
# time on top when it runs: waits and the backlog's queueing are cut short
# when the budget runs out.
RUN_DEADLINE=$(($(date +%s) + $([ "$QUICK" = 1 ] && echo 110 || echo 560)))
case " $SCENARIOS " in *" soak "*) RUN_DEADLINE=$((RUN_DEADLINE + SOAK_SECS + 60)) ;; esac
# live runs the delivery load 1 + 2 x BENCH_LIVE_PAIRS times.
case " $SCENARIOS " in *" live "*) RUN_DEADLINE=$((RUN_DEADLINE + 30 * ${BENCH_LIVE_PAIRS:-3})) ;; esac
# isolation runs 2 x BENCH_ISO_PAIRS rounds, each on a server of its own.
case " $SCENARIOS " in *" isolation "*) RUN_DEADLINE=$((RUN_DEADLINE + 12 * ${BENCH_ISO_PAIRS:-4})) ;; esac
left() { echo $((RUN_DEADLINE - $(date +%s))); }
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
calc() { $UTIL calc "$1"; }
# cond EXPR: true when the Python expression holds
cond() { [ "$("$PY" -c "print(1 if ($1) else 0)")" = 1 ]; }

# stop PID: SIGTERM, up to 15 s, then SIGKILL.
stop() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# wait_for FILE PATTERN SECONDS
wait_for() {
    local i
    for i in $(seq $(($3 * 20))); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# The scenarios register up to 100,000 webhooks in one community with one key pair, as
# fast as they can: past the default quotas (docs/operations.md), which an airhook that
# has them lifts here to measure what it measured before.
# (grep without -q: under pipefail, grep -q leaving early would fail the pipe with SIGPIPE.)
quota_flags() {
    # Not `serve --help | grep -q`: grep's early exit would fail the pipeline (pipefail).
    local help
    help=$("$AIRHOOK" serve --help 2>/dev/null || true)
    if [[ $help == *--max-webhooks* ]]; then
        echo "--max-webhooks 100000 --register-rate 0"
    fi
}

# start_airhook DIR [flags...]: sets AH (base URL) and AH_PID
start_airhook() {
    local dir=$1
    shift
    mkdir -p "$dir"
    # On PostgreSQL every node needs the same --secret-key-file (one for the whole run).
    # shellcheck disable=SC2046
    "$AIRHOOK" serve --listen 127.0.0.1:0 --db "${BENCH_DB:-sqlite:$dir/airhook.db}" --admin-token "$TOKEN" \
        ${BENCH_DB:+--secret-key-file} ${BENCH_DB:+$WORK/bench.key} \
        --log-level warn --allow-net 127.0.0.0/8 --shutdown-grace 1s $(quota_flags) ${BENCH_AIRHOOK_FLAGS:-} "$@" \
        >"$dir/airhook.out" 2>"$dir/airhook.err" &
    AH_PID=$!
    PIDS+=("$AH_PID")
    wait_for "$dir/airhook.out" 'airhook ready on' 15 || die "airhook did not start: $(cat "$dir/airhook.err")"
    AH=$(grep -o 'airhook ready on http://[^ ]*' "$dir/airhook.out" | awk '{print $4}')
}

# start_receiver DIR [flags...]: sets RCV (URL) and RCV_PID
start_receiver() {
    local dir=$1
    shift
    mkdir -p "$dir"
    "$BB/bench_receiver" "$@" >"$dir/receiver.out" 2>"$dir/receiver.err" &
    RCV_PID=$!
    PIDS+=("$RCV_PID")
    wait_for "$dir/receiver.out" 'receiver ready on' 10 || die "receiver did not start"
    RCV=$(grep -o 'http://[^ ]*' "$dir/receiver.out" | head -1)
}

# start_baseline DIR BODYFILE: sets BASE (URL) and BASE_PID
start_baseline() {
    local dir=$1
    mkdir -p "$dir"
    "$BB/bench_baseline" --body-file "$2" >"$dir/baseline.out" 2>"$dir/baseline.err" &
    BASE_PID=$!
    PIDS+=("$BASE_PID")
    wait_for "$dir/baseline.out" 'baseline ready on' 10 || die "baseline did not start"
    BASE=$(grep -o 'http://[^ ]*' "$dir/baseline.out" | head -1)
}

# admin METHOD PATH [BODY]: the admin API, body on stdout
admin() {
    curl -sS --max-time 30 -X "$1" "$AH$2" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' ${3:+-d "$3"}
}
jf() { "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# seed: a community, a key pair, an airmeet.  Sets COMMUNITY ACCESS SECRET AIRMEET.
seed() {
    local key
    COMMUNITY=$(admin POST /admin/v1/communities '{"name":"bench"}' | jf id)
    key=$(admin POST "/admin/v1/communities/$COMMUNITY/access-keys" '{"label":"bench"}')
    ACCESS=$(echo "$key" | jf accessKey)
    SECRET=$(echo "$key" | jf secretKey)
    AIRMEET=$(admin POST /admin/v1/airmeets "{\"communityId\":\"$COMMUNITY\",\"name\":\"bench\"}" | jf id)
}

REGISTER_PATH=/prod/platform-integration/v1/webhook-register
# register URL: one webhook for $TRIGGER in $AIRMEET; the response on stdout
register() {
    curl -sS --max-time 30 -X POST "$AH$REGISTER_PATH?airmeetId=$AIRMEET" \
        -H 'Content-Type: application/json' -H "x-access-key: $ACCESS" -H "x-secret-key: $SECRET" \
        -d "{\"name\":\"bench\",\"triggerMetaInfoId\":\"$TRIGGER\",\"url\":\"$1\",\"platformName\":\"bench\"}"
}

# make_payloads DIR: the trigger's sample body as event data, in two forms:
#   DIR/event.tpl   a publish request for bench_loadgen, data {"sentAtUs":{us},…}
#   DIR/data0.json  the data for bench/lua/ingest.lua, {"n":0,…}
#   DIR/delivery.json  a delivery body as the receiver gets it
make_payloads() {
    local dir=$1 sample
    sample=$(curl -sS "$AH/prod/platform-integration/v1/sample-payload?triggerMetaInfoId=$TRIGGER" \
        -H "x-access-key: $ACCESS" -H "x-secret-key: $SECRET" |
        "$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["payload"], separators=(",", ":")))')
    local rest=${sample#\{}
    printf '{"communityId":"%s","triggerMetaInfoId":"%s","airmeetId":"%s","data":{"sentAtUs":{us},%s}' \
        "$COMMUNITY" "$TRIGGER" "$AIRMEET" "$rest" >"$dir/event.tpl"
    printf '{"n":0,%s' "$rest" >"$dir/data0.json"
    printf '{"sentAtUs":%s,%s' "$(date +%s%6N)" "$rest" >"$dir/delivery.json"
}

# cpu_ticks PID: user+system clock ticks the process used so far
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
TICKS=$(getconf CLK_TCK)
# cpu_pct TICKS0 TICKS1 SECONDS: share of one core
cpu_pct() { calc "100.0 * ($2 - $1) / $TICKS / $3"; }

rss_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mb() { calc "$1 / 1024"; }

# wrk_run OUTFILE ARGS...: runs wrk (after a warm-up), keeps its report
wrk_run() {
    local out=$1
    shift
    if [ "$WARM" != 0 ]; then wrk -t"$WRK_T" -c"$CONNS" -d"${WARM}s" "$@" >/dev/null 2>&1 || true; fi
    local c0
    c0=$(cpu_ticks "${CPU_PID:-$$}")
    wrk -t"$WRK_T" -c"$CONNS" -d"${DUR}s" --latency "$@" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
    WRK_TICKS=$(($(cpu_ticks "${CPU_PID:-$$}") - c0))
}
# cpu_per OPS TICKS: "N µs of CPU per op (P % of one core over SECS)"
cpu_per() { echo "$(calc "1e6 * $2 / $TICKS / $1") µs"; }
# wrk_get FILE FIELD: requests secs rps ok_rps p50_ms p99_ms non2xx sockerr
wrk_get() {
    local i
    case $2 in requests) i=1 ;; secs) i=2 ;; rps) i=3 ;; ok_rps) i=4 ;; p50) i=5 ;; p99) i=6 ;;
    non2xx) i=7 ;; sockerr) i=8 ;; esac
    $UTIL wrk "$1" | awk -v i="$i" '{print $i}'
}

# row SCENARIO FIGURE BASELINE RATIO TARGET RESULT COMMAND
# Under scenario_pg (PG_ROWS=1) a scenario's row becomes NAME-pg, beside the
# SQLite figure of the same run as its baseline.
declare -A SQLITE_FIG=()
row() {
    local name=$1 fig=$2 base=$3 ratio=$4 target=$5 res=$6 cmd=$7
    if [ "${PG_ROWS:-0}" = 1 ]; then
        local sq=${SQLITE_FIG[$name]:-}
        base="—" ratio="—" res=measured target="≥ 50 % of SQLite's figure in the same run"
        if [ -n "$sq" ]; then
            base="${sq%%|*} (SQLite, this run)"
            ratio="$(calc "100 * ${fig%% *} / ${sq##*|}")%"
            res=$(verdict "${fig%% *} >= 0.5 * ${sq##*|}")
        fi
        name="$name-pg" cmd="AH_PG_DURABLE=1 BENCH_DB=postgres://… $cmd"
    else
        SQLITE_FIG[$name]="${fig%%(*}|${fig%% *}"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$fig" "$base" "$ratio" "$target" "$res" "$cmd" >>"$TSV"
    log "$name: $fig | baseline $base | ratio $ratio | target $target | $res"
}
detail() { printf '%s\n' "$*" >>"$DETAILS"; }
verdict() { if cond "$1"; then echo met; else echo "**missed**"; fi; }


SYSCALLS="pwrite64 pread64 fdatasync fsync fcntl futex sendto sendmsg recvfrom epoll_wait poll getrandom"
# want_profile RESULT: profile this scenario? (missed, or BENCH_PROFILE_ALL=1)
want_profile() {
    [ "$PROFILE" = 1 ] && { [ "$1" != met ] || [ "${BENCH_PROFILE_ALL:-0}" = 1 ]; } || return 1
    [ "$(left)" -gt 90 ] || { log "no time left for a profile"; return 1; }
}
# profile NAME PID UNIT OPS -- CMD...: runs CMD (its output in $OUT) under perf on PID,
# then evaluates OPS (shell code printing how many UNITs CMD did) to normalise
# system calls and CPU time per UNIT.  Appends the findings to $PROFILES.
profile() {
    [ "$PROFILE" = 1 ] || return 0
    local name=$1 pid=$2 unit=$3 ops_code=$4 data=$WORK/$1.perf
    shift 5
    OUT=$WORK/$name.out
    log "$name: profiling airhook (pid $pid): ${PROFILE_WHAT:-$*}"
    local events="" sc
    for sc in $SYSCALLS; do events="$events${events:+,}syscalls:sys_enter_$sc"; done
    perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$pid" -o "$data" -- sleep 600 \
        >/dev/null 2>&1 &
    local rec_pid=$!
    perf stat -x, -e "$events" -p "$pid" -o "$data.stat" -- sleep 600 >/dev/null 2>&1 &
    local stat_pid=$!
    PIDS+=("$rec_pid" "$stat_pid")
    local probe_pid=""
    if [ "$LOCKPROBE" = 1 ]; then
        perf record -q -e 'ahbench:*' -p "$pid" -o "$data.probe" -- sleep 600 >/dev/null 2>&1 &
        probe_pid=$!
        PIDS+=("$probe_pid")
    fi
    sleep 0.5
    local t0 c0 c1 secs
    c0=$(cpu_ticks "$pid")
    t0=$(date +%s.%N)
    "$@" >"$OUT" 2>&1 || true
    secs=$(calc "$(date +%s.%N) - $t0")
    c1=$(cpu_ticks "$pid")
    # Ending their workload (sleep) ends both perf runs cleanly; background jobs
    # of a script ignore SIGINT, so perf stat would not stop on it.
    local child
    for child in $(cat /proc/"$rec_pid"/task/*/children /proc/"$stat_pid"/task/*/children \
        ${probe_pid:+/proc/"$probe_pid"/task/*/children} 2>/dev/null); do
        kill -TERM "$child" 2>/dev/null || true
    done
    wait "$rec_pid" "$stat_pid" $probe_pid 2>/dev/null || true
    local ops busy
    ops=$(eval "$ops_code" 2>/dev/null || echo 0)
    [ -n "$ops" ] && [ "$ops" != 0 ] || ops=1
    busy=$(cpu_pct "$c0" "$c1" "$secs")
    perf report -i "$data" --no-children --sort dso,sym --stdio -g none 2>/dev/null >"$data.self" || true
    perf report -i "$data" --children --sort sym --stdio -g none 2>/dev/null >"$data.children" || true
    {
        echo "### $name: profile of airhook"
        echo
        echo "While ${PROFILE_WHAT:-$*} ($ops × $unit in $(calc "$secs") s: $(calc "$ops / $secs") per second): airhook used $busy % of one core ($NPROC cores), that is $(calc "1e6 * ($c1 - $c0) / $TICKS / $ops") µs of CPU per $unit."
        echo
        echo "System calls per $unit (\`perf stat -e syscalls:sys_enter_*\`): $($UTIL perf-syscalls "$data.stat" "$ops")."
        echo
        if [ -n "$probe_pid" ]; then
            perf script -i "$data.probe" -F tid,time,event 2>/dev/null >"$data.probe.txt" || true
            echo "Write lock and checkpoints (uprobes on tx_begin/tx_end returns and sqlite3_wal_checkpoint_v2): $($UTIL lock-stats "$data.probe.txt" "$secs" "$ops")."
            echo
            rm -f "$data.probe"
        fi
        echo "\`perf record -e cpu-clock -F 499 --call-graph dwarf\`; shares are of airhook's on-CPU samples (time blocked on a lock or the disk is not in them)."
        echo "Self time, top 12:"
        echo
        $UTIL perf-top "$data.self" 12
        echo
        echo "Inclusive time (the function anywhere on the stack), top 40; kernel entries are system calls:"
        echo
        $UTIL perf-children "$data.children" 40
        echo
    } >>"$PROFILES"
    rm -f "$data"
}
# Op counters for profile(): requests in a wrk report ($OUT), receiver count.
OPS_WRK='$UTIL wrk "$OUT" | awk "{print \$1 - \$7}"'
OPS_RCV='$UTIL json <(curl -sS "$RCV/stats") count'

# ---------------------------------------------------------------------------
# api-list: GET webhook-list at $CONNS connections vs. the baseline answering
# a body of the same size.
scenario_api_list() {
    local d=$WORK/api-list
    start_airhook "$d"
    seed
    local i token url body_file=$d/list.json
    for i in $(seq 0 9); do register "http://127.0.0.1:9/h/$i" >/dev/null; done
    token=$(curl -sS -X POST "$AH/prod/auth" -H "X-Airmeet-Access-Key: $ACCESS" \
        -H "X-Airmeet-Secret-Key: $SECRET" | jf token)
    url="$AH/prod/platform-integration/v1/webhook-list?airmeetId=$AIRMEET"
    curl -sS "$url" -H "X-Airmeet-Access-Token: $token" >"$body_file"
    local size
    size=$(stat -c %s "$body_file")
    CPU_PID=$AH_PID wrk_run "$d/wrk.txt" -H "X-Airmeet-Access-Token: $token" "$url"
    local cpu
    cpu=$(cpu_per "$(wrk_get "$d/wrk.txt" requests)" "$WRK_TICKS")
    local rps p50 p99 bad
    rps=$(wrk_get "$d/wrk.txt" ok_rps)
    p50=$(wrk_get "$d/wrk.txt" p50)
    p99=$(wrk_get "$d/wrk.txt" p99)
    bad=$(wrk_get "$d/wrk.txt" non2xx)
    start_baseline "$d" "$body_file"
    CPU_PID=$BASE_PID wrk_run "$d/wrk-base.txt" "$BASE/"
    local bcpu
    bcpu=$(cpu_per "$(wrk_get "$d/wrk-base.txt" requests)" "$WRK_TICKS")
    local brps bp50 bp99 ratio
    brps=$(wrk_get "$d/wrk-base.txt" rps)
    bp50=$(wrk_get "$d/wrk-base.txt" p50)
    bp99=$(wrk_get "$d/wrk-base.txt" p99)
    stop "$BASE_PID"
    ratio=$(calc "$rps / $brps")
    local res
    res=$(verdict "$ratio >= 0.5 and $p99 <= 5")
    row api-list "$rps req/s, p50 $p50 ms, p99 $p99 ms" "$brps req/s, p50 $bp50 ms, p99 $bp99 ms" \
        "$(calc "100 * $ratio")%" "≥ 50 % of baseline; p99 ≤ 5 ms" "$res" \
        "wrk -t$WRK_T -c$CONNS -d${DUR}s --latency -H 'X-Airmeet-Access-Token: \$TOKEN' '\$AH/prod/platform-integration/v1/webhook-list?airmeetId=\$AIRMEET'"
    detail "- **api-list**: 10 webhooks in the list, response body $size bytes (the baseline answers the same bytes); non-2xx: $bad; airhook used $cpu of CPU per request, the baseline $bcpu."
    if want_profile "$res"; then
        PROFILE_WHAT="the same wrk command for ${PROF_SECS} s" profile api-list "$AH_PID" request "$OPS_WRK" -- \
            wrk -t"$WRK_T" -c"$CONNS" -d"${PROF_SECS}s" -H "X-Airmeet-Access-Token: $token" "$url"
    fi
    stop "$AH_PID"
}

# register_communities: a community (key pair, airmeet) per wrk thread for
# bench/lua/register.lua, in its BENCH_PATH, BENCH_ACCESS and BENCH_SECRET
# lists.  One community would cap the run at its --max-webhooks (at most
# 100000): the figure would be that cap over the run's length, with the
# rest of the requests refused.
register_communities() {
    local t paths="" access="" secrets=""
    for t in $(seq "$WRK_T"); do
        seed
        paths="$paths $REGISTER_PATH?airmeetId=$AIRMEET"
        access="$access $ACCESS"
        secrets="$secrets $SECRET"
    done
    export BENCH_PATH=$paths BENCH_ACCESS=$access BENCH_SECRET=$secrets
}

# api-register: POST webhook-register with distinct urls.
scenario_api_register() {
    local d=$WORK/api-register
    start_airhook "$d"
    seed
    register "http://127.0.0.1:9/first" >"$d/register.json"
    printf '{"name":"bench","triggerMetaInfoId":"%s","url":"http://127.0.0.1:9/h/0-0","platformName":"bench"}' \
        "$TRIGGER" >"$d/body.json"
    register_communities
    export BENCH_TRIGGER=$TRIGGER BENCH_HOOK_BASE="http://127.0.0.1:9/h/"
    # No warm-up here: every request registers a webhook, the table would grow first.
    CPU_PID=$AH_PID WARM=0 wrk_run "$d/wrk.txt" -s "$LUA/register.lua" "$AH"
    local cpu
    cpu=$(cpu_per "$(wrk_get "$d/wrk.txt" requests)" "$WRK_TICKS")
    local rps p99 bad n
    rps=$(wrk_get "$d/wrk.txt" ok_rps)
    p99=$(wrk_get "$d/wrk.txt" p99)
    bad=$(wrk_get "$d/wrk.txt" non2xx)
    n=$(wrk_get "$d/wrk.txt" requests)
    start_baseline "$d" "$d/register.json"
    CPU_PID=$BASE_PID BENCH_BODY_FILE=$d/body.json wrk_run "$d/wrk-base.txt" -s "$LUA/post.lua" "$BASE/"
    local bcpu
    bcpu=$(cpu_per "$(wrk_get "$d/wrk-base.txt" requests)" "$WRK_TICKS")
    local brps
    brps=$(wrk_get "$d/wrk-base.txt" rps)
    stop "$BASE_PID"
    local res
    res=$(verdict "$rps >= 10000")
    local refused=""
    [ "$bad" = 0 ] || refused="; $bad refused: the figure is not the server's rate"
    row api-register "$rps req/s (p99 $p99 ms$refused)" "$brps req/s" "$(calc "100 * $rps / $brps")%" \
        "≥ 10k req/s" "$res" \
        "wrk -t$WRK_T -c$CONNS -d${DUR}s --latency -s bench/lua/register.lua \$AH"
    detail "- **api-register**: $n registrations in ${DUR} s, each a distinct url, in $WRK_T communities (one per wrk thread, each with room for 100000 webhooks) (non-2xx: $bad), $cpu of airhook CPU per registration ($bcpu per request for the baseline); the baseline answers a body of the size of a register response ($(stat -c %s "$d/register.json") bytes)."
    if want_profile "$res"; then
        register_communities # room for the profile's registrations too
        PROFILE_WHAT="the same wrk command for ${PROF_SECS} s" profile api-register "$AH_PID" request "$OPS_WRK" -- \
            wrk -t"$WRK_T" -c"$CONNS" -d"${PROF_SECS}s" -s "$LUA/register.lua" "$AH"
    fi
    stop "$AH_PID"
}

# ingest: POST /admin/v1/events, fan-out 1, answered after commit; the one
# matching webhook points at a live receiver, so delivery runs meanwhile.
scenario_ingest() {
    local d=$WORK/ingest
    start_receiver "$d"
    start_airhook "$d"
    seed
    make_payloads "$d"
    register "$RCV/h/0" >/dev/null
    export BENCH_TOKEN=$TOKEN BENCH_COMMUNITY=$COMMUNITY BENCH_AIRMEET=$AIRMEET \
        BENCH_TRIGGER=$TRIGGER BENCH_DATA_FILE=$d/data0.json
    CPU_PID=$AH_PID wrk_run "$d/wrk.txt" -s "$LUA/ingest.lua" "$AH"
    local cpu
    cpu=$(cpu_per "$(wrk_get "$d/wrk.txt" requests)" "$WRK_TICKS")
    local eps p50 p99 bad n delivered
    eps=$(wrk_get "$d/wrk.txt" ok_rps)
    p50=$(wrk_get "$d/wrk.txt" p50)
    p99=$(wrk_get "$d/wrk.txt" p99)
    bad=$(wrk_get "$d/wrk.txt" non2xx)
    n=$(wrk_get "$d/wrk.txt" requests)
    curl -sS "$RCV/stats" >"$d/stats.json"
    delivered=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["count"])' "$d/stats.json")
    # The baseline gets the same request bodies and answers a 202's size.
    printf '{"eventId":"00000000-0000-4000-8000-000000000000","deliveries":1,"duplicate":false}' >"$d/answer.json"
    start_baseline "$d" "$d/answer.json"
    CPU_PID=$BASE_PID wrk_run "$d/wrk-base.txt" -s "$LUA/ingest.lua" "$BASE"
    local bcpu
    bcpu=$(cpu_per "$(wrk_get "$d/wrk-base.txt" requests)" "$WRK_TICKS")
    local brps
    brps=$(wrk_get "$d/wrk-base.txt" rps)
    stop "$BASE_PID"
    local res
    res=$(verdict "$eps >= 18000")
    row ingest "$eps events/s (p50 $p50 ms, p99 $p99 ms)" "$brps req/s" "$(calc "100 * $eps / $brps")%" \
        "≥ 18k events/s" "$res" \
        "wrk -t$WRK_T -c$CONNS -d${DUR}s --latency -s bench/lua/ingest.lua \$AH"
    detail "- **ingest**: $n events accepted with 202 in ${DUR} s of wrk (non-2xx: $bad; the warm-up published more before), each answered after its commit; one webhook per event, delivered meanwhile to a live receiver ($delivered deliveries acknowledged by the end of the run); airhook used $cpu of CPU per event, delivery included; the baseline $bcpu per request, which is what the HTTP layer costs. Body $(($(stat -c %s "$d/data0.json") + 150)) bytes or so."
    if want_profile "$res"; then
        PROFILE_WHAT="the same wrk command for ${PROF_SECS} s" profile ingest "$AH_PID" event "$OPS_WRK" -- \
            wrk -t"$WRK_T" -c"$CONNS" -d"${PROF_SECS}s" -s "$LUA/ingest.lua" "$AH"
        # Where the time goes apart from delivery: the same load with the receiver holding
        # every request (16 in flight, nothing else sent).
        curl -sS "$RCV/ctl/down" >/dev/null
        stop "$AH_PID"
        stop "$RCV_PID"
        start_receiver "$d/hold" --down --down-mode hang
        start_airhook "$d/hold"
        seed
        register "$RCV/h/0" >/dev/null
        export BENCH_COMMUNITY=$COMMUNITY BENCH_AIRMEET=$AIRMEET
        CPU_PID=$AH_PID wrk_run "$d/wrk-hold.txt" -s "$LUA/ingest.lua" "$AH"
        INGEST_NODELIVERY=$(wrk_get "$d/wrk-hold.txt" ok_rps)
        detail "  - The same load with the receiver holding every request (so the dispatcher sends 16 and then idles): $INGEST_NODELIVERY events/s (p99 $(wrk_get "$d/wrk-hold.txt" p99) ms), $(cpu_per "$(wrk_get "$d/wrk-hold.txt" requests)" "$WRK_TICKS") of CPU per event."
        PROFILE_WHAT="the same wrk command for ${PROF_SECS} s, the receiver holding every request (delivery idle)" \
            profile ingest-without-delivery "$AH_PID" event "$OPS_WRK" -- \
            wrk -t"$WRK_T" -c"$CONNS" -d"${PROF_SECS}s" -s "$LUA/ingest.lua" "$AH"
    fi
    stop "$AH_PID"
    stop "$RCV_PID"
}

# publish DIR N [loadgen flags...]: N events through bench_loadgen; its JSON in DIR/publish.json
publish() {
    local dir=$1 n=$2
    shift 2
    "$BB/bench_loadgen" --url "$AH/admin/v1/events" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' --body-file "$dir/event.tpl" --count "$n" \
        --expect 202 "$@" >"$dir/publish.json" || log "publish: some requests failed: $(cat "$dir/publish.json")"
}

# publish_wait DIR N WANT [loadgen flags...]: publish N events, wait for WANT deliveries
publish_wait() {
    local dir=$1 n=$2 want=$3
    shift 3
    publish "$dir" "$n" "$@"
    wait_count "$want" 120
}
# drain_wait N: the receiver comes up; wait for N deliveries
drain_wait() {
    curl -sS "$RCV/ctl/up" >/dev/null
    wait_count "$1" 300
}

# wait_count N SECONDS [FIELD]: until the receiver has counted N (bounded); stats in $RCV_STATS
wait_count() {
    local n=$1 secs=$2 field=${3:-count} c=0 last=-1 still=0
    local deadline=$(($(date +%s) + secs))
    [ "$deadline" -gt "$RUN_DEADLINE" ] && deadline=$RUN_DEADLINE
    while [ "$(date +%s)" -lt "$deadline" ]; do
        curl -sS "$RCV/stats" >"$WORK/stats.json"
        # Read without an interpreter: this runs five times a second during the measurement.
        c=$(grep -o "\"$field\":[0-9]*" "$WORK/stats.json" | head -1 | cut -d: -f2)
        c=${c:-0}
        [ "$c" -ge "$n" ] && break
        if [ "$c" = "$last" ]; then still=$((still + 1)); else still=0; fi
        [ "$still" -ge 100 ] && { log "no progress for 20 s at $c of $n"; break; }
        last=$c
        sleep 0.2
    done
    RCV_STATS=$WORK/stats.json
    WAIT_COUNT=$c
}
st() { $UTIL json "$RCV_STATS" "$1"; }

# hooks_setup N STALL: N webhooks to the receiver, /h/0…; the last to /stall/ when STALL=1
hooks_setup() {
    local i
    for i in $(seq 0 $(($1 - 1))); do
        if [ "${2:-0}" = 1 ] && [ "$i" = $(($1 - 1)) ]; then
            register "$RCV/stall/$i" >/dev/null
        else
            register "$RCV/h/$i" >/dev/null
        fi
    done
}

DELIVERY_RATE=${BENCH_DELIVERY_RATE:-}
LATENCY_P99=""
# delivery: fan-out 10, first publish to last acknowledgement.
scenario_delivery() {
    local d=$WORK/delivery
    start_receiver "$d"
    start_airhook "$d"
    seed
    make_payloads "$d"
    hooks_setup 10
    local want=$((EVENTS * 10)) c0
    c0=$(cpu_ticks "$AH_PID")
    publish "$d" "$EVENTS" --concurrency 16
    wait_count "$want" 300
    local cpu
    cpu=$(cpu_per "$want" $(($(cpu_ticks "$AH_PID") - c0)))
    local first last got rate
    first=$($UTIL json "$d/publish.json" first_us)
    last=$(st last_us)
    got=$(st count)
    rate=$(calc "$got / (($last - $first) / 1e6)")
    DELIVERY_RATE=$rate
    local pub_rate
    pub_rate=$($UTIL json "$d/publish.json" rps)
    # The receiver's ceiling: wrk POSTing the same body to it.
    curl -sS "$RCV/ctl/reset" >/dev/null
    BENCH_BODY_FILE=$d/delivery.json wrk_run "$d/wrk-base.txt" -s "$LUA/post.lua" "$RCV/h/0"
    local brps
    brps=$(wrk_get "$d/wrk-base.txt" rps)
    local ratio res
    ratio=$(calc "$rate / $brps")
    res=$(verdict "$rate >= 25000 and $ratio >= 0.3")
    row delivery "$rate deliveries/s" "$brps req/s (receiver ceiling)" "$(calc "100 * $ratio")%" \
        "≥ 25k/s and ≥ 30 % of the receiver's ceiling" "$res" \
        "bench_loadgen --url \$AH/admin/v1/events --body-file event.tpl --count $EVENTS --concurrency 16 (10 webhooks)"
    detail "- **delivery**: $EVENTS events x 10 webhooks = $want deliveries; $got acknowledged in $(calc "($last - $first) / 1e6") s from the first publish to the last acknowledgement; publishing alone took $($UTIL json "$d/publish.json" elapsed_s) s ($pub_rate events/s); airhook used $cpu of CPU per delivery, its share of publishing included. Body $(stat -c %s "$d/delivery.json") bytes. Receiver ceiling: \`wrk -t$WRK_T -c$CONNS -d${DUR}s -s bench/lua/post.lua \$RECEIVER/h/0\` with the same body."
    if want_profile "$res"; then
        curl -sS "$RCV/ctl/reset" >/dev/null
        PROFILE_WHAT="publishing $((EVENTS / 4)) more events (fan-out 10) and delivering them" \
            profile delivery "$AH_PID" delivery "$OPS_RCV" -- \
            publish_wait "$d" $((EVENTS / 4)) $((EVENTS / 4 * 10)) --concurrency 16
    fi
    stop "$AH_PID"
    stop "$RCV_PID"
}

# live: the delivery scenario's load without, with, and again without LIVE_SUBS
# subscribers to GET /admin/v1/live that read nothing (bench/live_subscribers.py),
# on one server; the figure is the rate with them over the mean rate without.
LIVE_SUBS=${BENCH_LIVE_SUBS:-8}
live_round() { # DIR: publish EVENTS (fan-out 10), wait; sets ROUND_RATE
    curl -sS "$RCV/ctl/reset" >/dev/null
    publish "$1" "$EVENTS" --concurrency 16
    wait_count $((EVENTS * 10)) 300
    ROUND_RATE=$(calc "$(st count) / (($(st last_us) - $($UTIL json "$1/publish.json" first_us)) / 1e6)")
}
live_subs_start() { # DIR: LIVE_SUBS stalled subscribers; sets SUBS_PID
    "$PY" "$ROOT/bench/live_subscribers.py" --url "$AH/admin/v1/live" --token "$TOKEN" \
        --count "$LIVE_SUBS" >"$1/subs.out" 2>"$1/subs.err" &
    SUBS_PID=$!
    PIDS+=("$SUBS_PID")
    wait_for "$1/subs.out" '^connected' 10 || die "live subscribers: $(cat "$1/subs.err")"
}
scenario_live() {
    local d=$WORK/live i pairs=${BENCH_LIVE_PAIRS:-3} a_list="" b_list="" a_sum=0 b_sum=0
    start_receiver "$d"
    start_airhook "$d"
    seed
    make_payloads "$d"
    hooks_setup 10
    live_round "$d" # warm-up (a fresh database, cold caches): not counted
    # Alternated pairs, so that a drift of the machine's load weighs on both alike.
    for i in $(seq "$pairs"); do
        live_round "$d"
        a_list="$a_list $ROUND_RATE"
        a_sum=$(calc "$a_sum + $ROUND_RATE")
        live_subs_start "$d"
        live_round "$d"
        b_list="$b_list $ROUND_RATE"
        b_sum=$(calc "$b_sum + $ROUND_RATE")
        stop "$SUBS_PID"
    done
    local base with ratio res seen
    base=$(calc "$a_sum / $pairs")
    with=$(calc "$b_sum / $pairs")
    ratio=$(calc "$with / $base")
    seen=$(grep '^subscribers' "$d/subs.out" || echo "subscribers: no report")
    res=$(verdict "$ratio >= 0.9")
    row live "$with deliveries/s with $LIVE_SUBS stalled live subscribers (rounds:$b_list)" \
        "$base deliveries/s without (rounds:$a_list)" "$(calc "100 * $ratio")%" \
        "≥ 90 % of the rate without subscribers" "$res" \
        "bench/run.sh --only live (bench_loadgen --count $EVENTS --concurrency 16, 10 webhooks; bench/live_subscribers.py --count $LIVE_SUBS; $pairs pairs)"
    detail "- **live**: $EVENTS events x 10 webhooks per round on one server: a warm-up, then $pairs pairs of rounds, without live subscribers and with $LIVE_SUBS subscribers to GET /admin/v1/live that never read. Without:$a_list deliveries/s; with:$b_list. What the last set of subscribers held when they finally read: $seen (each stream keeps at most 512 events queued; the rest are dropped and stand as a \"skipped\" summary)."
    stop "$AH_PID"
    stop "$RCV_PID"
}

# latency: a steady 2k deliveries/s (200 events/s x 10 webhooks).
scenario_latency() {
    local d=$WORK/latency
    start_receiver "$d"
    start_airhook "$d"
    seed
    make_payloads "$d"
    hooks_setup 10
    local rate=${BENCH_LAT_RATE:-200}
    local n=$((rate * LAT_SECS))
    publish "$d" "$n" --rate "$rate" --concurrency 16
    wait_count $((n * 10)) 60
    local p50 p99 got secs
    p50=$(calc "$(st p50_us) / 1000")
    p99=$(calc "$(st p99_us) / 1000")
    got=$(st lat_n)
    secs=$(calc "($(st last_us) - $(st first_us)) / 1e6")
    LATENCY_P99=$p99
    local res
    res=$(verdict "$p50 <= 1.8 and $p99 <= 4.0")
    row latency "p50 $p50 ms, p99 $p99 ms" "—" "—" "p50 ≤ 1.8 ms, p99 ≤ 4.0 ms (unchanged or better)" "$res" \
        "bench_loadgen --url \$AH/admin/v1/events --body-file event.tpl --rate $rate --count $n (10 webhooks)"
    detail "- **latency**: $n events at $rate/s x 10 webhooks; $got deliveries timed from the publisher's \`sentAtUs\` (taken just before the POST) to their arrival at the receiver, over $secs s ($(calc "$got / $secs") deliveries/s); max $(calc "$(st max_us) / 1000") ms, p90 $(calc "$(st p90_us) / 1000") ms."
    if want_profile "$res"; then
        curl -sS "$RCV/ctl/reset" >/dev/null
        PROFILE_WHAT="publishing 200 events/s for $PROF_SECS s (fan-out 10)" \
            profile latency "$AH_PID" delivery "$OPS_RCV" -- \
            publish_wait "$d" $((200 * PROF_SECS)) $((2000 * PROF_SECS)) --rate 200 --concurrency 16
    fi
    stop "$AH_PID"
    stop "$RCV_PID"
}

# isolation: 9 healthy webhooks and a 10th whose every request stalls.  The
# delivery figure it is held against is measured again here (machine noise
# between scenarios is larger than 10 %): airmeet A has 10 healthy webhooks,
# airmeet B 9 healthy and 1 stalling; a reference round publishes to A, a
# stalled round to B.  One pair of rounds moved by ±7 % from run to run, so
# the figure is the mean of ISO_PAIRS pairs.  Every round has a fresh server
# and receiver of its own, set up alike and warmed up alike (a fifth of the
# events, to A) before it: a stalled round's held transfers stay in flight
# for 15 s and would weigh on a round after it on the same server, and a
# second round on one server would run on the first one's rows.  The pairs
# alternate which goes first (reference then stalled, then the other way
# round), so that a drift of the machine over the scenario weighs on both
# alike; an even number of pairs balances the order.
ISO_PAIRS=${BENCH_ISO_PAIRS:-4}
isolation_round() { # DIR ref|stall: one round on a new server; sets ISO_R, ISO_GOT, ISO_SECS
    local d=$1 kind=$2
    [ -n "${AH_PID:-}" ] && { stop "$AH_PID"; stop "$RCV_PID"; }
    ISO_DIR=$d
    start_receiver "$d" --stall-prefix /stall/ --stall-ms 60000
    start_airhook "$d"
    seed
    make_payloads "$d"
    hooks_setup 10
    local airmeet_a=$AIRMEET i warm=$((EVENTS / 5))
    AIRMEET=$(admin POST /admin/v1/airmeets "{\"communityId\":\"$COMMUNITY\",\"name\":\"bench-b\"}" | jf id)
    for i in $(seq 0 8); do register "$RCV/h/b$i" >/dev/null; done
    register "$RCV/stall/9" >/dev/null
    mkdir -p "$d/w" "$d/a" "$d/b"
    cp "$d/event.tpl" "$d/w/event.tpl"
    cp "$d/event.tpl" "$d/a/event.tpl"
    sed "s/$airmeet_a/$AIRMEET/" "$d/event.tpl" >"$d/b/event.tpl"
    publish "$d/w" "$warm" --concurrency 16
    wait_count $((warm * 10)) 300
    curl -sS "$RCV/ctl/reset" >/dev/null
    local dir=a healthy=10
    [ "$kind" = stall ] && { dir=b; healthy=9; }
    publish "$d/$dir" "$EVENTS" --concurrency 16
    wait_count $((EVENTS * healthy)) 300
    ISO_GOT=$(st count)
    ISO_SECS=$(calc "($(st last_us) - $($UTIL json "$d/$dir/publish.json" first_us)) / 1e6")
    ISO_R=$(calc "$ISO_GOT / $ISO_SECS")
}
scenario_isolation() {
    local d=$WORK/isolation k ref_sum=0 rate_sum=0 ref_list="" rate_list="" want=$((EVENTS * 9))
    local kind got=0 secs=0
    AH_PID=""
    for k in $(seq "$ISO_PAIRS"); do
        local order="ref stall"
        [ $((k % 2)) = 0 ] && order="stall ref"
        for kind in $order; do
            isolation_round "$d/$k-$kind" "$kind"
            if [ "$kind" = ref ]; then
                ISO_REF=$ISO_R
            else
                ISO_RATE=$ISO_R got=$ISO_GOT secs=$ISO_SECS
            fi
        done
        ref_list="$ref_list $ISO_REF"
        rate_list="$rate_list $ISO_RATE"
        ref_sum=$(calc "$ref_sum + $ISO_REF")
        rate_sum=$(calc "$rate_sum + $ISO_RATE")
        log "isolation: pair $k of $ISO_PAIRS ($order): $ISO_RATE deliveries/s to the 9 healthy, $ISO_REF to 10 healthy"
    done
    local ref rate res
    ref=$(calc "$ref_sum / $ISO_PAIRS")
    rate=$(calc "$rate_sum / $ISO_PAIRS")
    res=$(verdict "$rate >= 0.95 * $ref")
    row isolation "$rate deliveries/s to the 9 healthy (pairs:$rate_list)" \
        "$ref deliveries/s (the delivery scenario, repeated in each pair on a server set up alike; pairs:$ref_list${DELIVERY_RATE:+; the delivery row: $DELIVERY_RATE})" \
        "$(calc "100 * $rate / $ref")%" "≥ 95 % of the delivery figure" "$res" \
        "bench_loadgen --url \$AH/admin/v1/events --body-file event.tpl --count $EVENTS --concurrency 16 (10 healthy webhooks, or 9 + 1 stalling; $ISO_PAIRS pairs)"
    detail "- **isolation**: $ISO_PAIRS pairs of rounds, each round on a fresh server and receiver set up alike (airmeet A with 10 healthy webhooks, airmeet B with 9 healthy and a 10th whose receiver path holds every request 60 s) and warmed up alike ($((EVENTS / 5)) events to A): the reference publishes $EVENTS events to A, the stalled round $EVENTS events to B (airhook keeps the stalled webhook's 16 connections busy, times them out at 15 s and retries); the pairs alternate which round goes first. The figure is the mean rate of the stalled rounds over the mean of the references. To the 9 healthy (deliveries/s):$rate_list; references:$ref_list. Last stalled round: $got of $want acknowledged in $secs s."
    if want_profile "$res"; then
        curl -sS "$RCV/ctl/reset" >/dev/null
        PROFILE_WHAT="publishing $((EVENTS / 4)) more events, one webhook stalling" \
            profile isolation "$AH_PID" delivery "$OPS_RCV" -- \
            publish_wait "$ISO_DIR/b" $((EVENTS / 4)) $((EVENTS / 4 * 9)) --concurrency 16
    fi
    stop "$AH_PID"
    stop "$RCV_PID"
}

# backlog: BACKLOG deliveries queued while the receiver is down, then drained.
scenario_backlog() {
    local d=$WORK/backlog
    # "Down" = the receiver holds every connection without answering (a black
    # hole), so the queue builds without a storm of failed attempts; the
    # delivery timeout is raised so the held transfers outlast the queueing.
    start_receiver "$d" --down --down-mode hang
    start_airhook "$d" --delivery-timeout 300s --lease 600s
    seed
    make_payloads "$d"
    hooks_setup 10
    local events=$((BACKLOG / 10)) budget
    # Keep time for the drain and the footprint scenario after this one.
    budget=$(($(left) - $([ "$QUICK" = 1 ] && echo 25 || echo 200)))
    [ "$budget" -lt 10 ] && budget=10
    publish "$d" "$events" --concurrency 32 --duration "$budget"
    local queued
    queued=$(($($UTIL json "$d/publish.json" ok) * 10))
    [ "$queued" -lt "$BACKLOG" ] && log "backlog: only $queued deliveries queued in the time budget"
    local qsecs hwm_q rss_q
    qsecs=$($UTIL json "$d/publish.json" elapsed_s)
    hwm_q=$(rss_kb "$AH_PID" VmHWM)
    rss_q=$(rss_kb "$AH_PID" VmRSS)
    local up_us c0
    c0=$(cpu_ticks "$AH_PID")
    up_us=$(date +%s%6N)
    curl -sS "$RCV/ctl/up" >/dev/null
    wait_count "$queued" 420
    local cpu
    cpu=$(cpu_per "$queued" $(($(cpu_ticks "$AH_PID") - c0)))
    local last got rate hwm
    last=$(st last_us)
    got=$(st count)
    rate=$(calc "$got / (($last - $up_us) / 1e6)")
    hwm=$(rss_kb "$AH_PID" VmHWM)
    local res
    res=$(verdict "$rate >= 30000 and $hwm <= 150 * 1024")
    row backlog "$rate deliveries/s drained; peak RSS $(mb "$hwm") MB" "—" "—" \
        "≥ 30k/s; peak RSS ≤ 150 MB" "$res" \
        "bench_loadgen --url \$AH/admin/v1/events --count $events --concurrency 32 (10 webhooks, receiver down), then receiver up"
    detail "- **backlog**: $((queued / 10)) events x 10 webhooks = $queued deliveries queued in $qsecs s ($($UTIL json "$d/publish.json" rps) events/s) while the receiver held every connection (airhook with \`--delivery-timeout 300s --lease 600s\` so the held 160 do not time out meanwhile); RSS after queueing $(mb "$rss_q") MB (peak $(mb "$hwm_q") MB). Then the receiver came up: $got delivered in $(calc "($last - $up_us) / 1e6") s, $cpu of airhook CPU per delivery. Database file: $(du -m "$d/airhook.db" | cut -f1) MB (+WAL $(du -m "$d/airhook.db-wal" 2>/dev/null | cut -f1) MB)."
    if want_profile "$res"; then
        # Profile a second, smaller backlog draining on top of the same table.
        curl -sS "$RCV/ctl/down" >/dev/null
        publish "$d" $((events / 10)) --concurrency 32
        curl -sS "$RCV/ctl/reset" >/dev/null
        PROFILE_WHAT="draining $((BACKLOG / 10)) more deliveries queued the same way (the table already holds $BACKLOG done ones)" \
            profile backlog "$AH_PID" delivery "$OPS_RCV" -- drain_wait $((BACKLOG / 10))
    fi
    stop "$AH_PID"
    stop "$RCV_PID"
}

# footprint: RSS at idle, and after HOOKS webhooks registered via the public API.
scenario_footprint() {
    local d=$WORK/footprint
    start_airhook "$d"
    seed
    sleep 2
    local idle idle_hwm
    idle=$(rss_kb "$AH_PID" VmRSS)
    idle_hwm=$(rss_kb "$AH_PID" VmHWM)
    "$BB/bench_loadgen" --url "$AH$REGISTER_PATH?airmeetId=$AIRMEET" -H 'Content-Type: application/json' \
        -H "x-access-key: $ACCESS" -H "x-secret-key: $SECRET" \
        --body "{\"name\":\"bench\",\"triggerMetaInfoId\":\"$TRIGGER\",\"url\":\"http://127.0.0.1:9/h/{n}\",\"platformName\":\"bench\"}" \
        --count "$HOOKS" --concurrency 32 --expect 200 >"$d/register.json" ||
        log "footprint: some registrations failed: $(cat "$d/register.json")"
    sleep 2
    local full full_hwm
    full=$(rss_kb "$AH_PID" VmRSS)
    full_hwm=$(rss_kb "$AH_PID" VmHWM)
    local res
    res=$(verdict "$idle <= 15 * 1024 and $full <= 60 * 1024")
    row footprint "idle $(mb "$idle") MB; $(mb "$full") MB with $HOOKS webhooks" "—" "—" \
        "≤ 15 MB idle; ≤ 60 MB with 100k" "$res" \
        "grep VmRSS /proc/\$PID/status (after bench_loadgen --count $HOOKS registrations)"
    detail "- **footprint**: VmRSS 2 s after start and seeding: $(mb "$idle") MB (VmHWM $(mb "$idle_hwm") MB); $HOOKS webhooks registered through webhook-register with distinct urls in $($UTIL json "$d/register.json" elapsed_s) s ($($UTIL json "$d/register.json" rps) req/s, $($UTIL json "$d/register.json" ok) answered 200), then 2 s idle: VmRSS $(mb "$full") MB, VmHWM $(mb "$full_hwm") MB. Database file $(du -m "$d/airhook.db" | cut -f1) MB."
    if want_profile "$res"; then
        local maps=$d/smaps.txt
        awk '/^[0-9a-f]+-/ {name=$6} /^Rss:/ {rss[name]+=$2} END {for (n in rss) if (rss[n] > 256) printf "%8d kB  %s\n", rss[n], n}' \
            "/proc/$AH_PID/smaps" | sort -rn | head -12 >"$maps"
        {
            echo "### footprint: where the resident memory is (/proc/PID/smaps, Rss by mapping, with $HOOKS webhooks)"
            echo
            echo '```'
            cat "$maps"
            echo '```'
            echo
        } >>"$PROFILES"
    fi
    stop "$AH_PID"
}

# The delivery scenario on PostgreSQL, one node and then two nodes sharing the
# database (issue 5): a throwaway cluster from scripts/pg-test.sh with
# PostgreSQL's durable settings (AH_PG_DURABLE=1: fsync, full_page_writes and
# synchronous_commit on), a fresh database per run; events are published
# through the first node, and both nodes deliver.  Besides the rate it reports
# what each delivery cost the database: WAL bytes (pg_current_wal_lsn before
# the first publish and after the last acknowledgement) and rows written
# (pg_stat_user_tables, read after the nodes stopped, when their counts are
# flushed).
scenario_delivery_pg() {
    local pgdir dsn
    dsn=$(AH_PG_DURABLE=1 AH_PG_STATEMENTS=1 sh "$ROOT/scripts/pg-test.sh" start 2>"$WORK/pg-start.err" | tail -1) ||
        { log "delivery-pg: PostgreSQL did not start: $(tail -3 "$WORK/pg-start.err")"; return 0; }
    pgdir=$(sed -n 's/^AH_TEST_PG_DIR=//p' "$WORK/pg-start.err" | tail -1)
    local nodes
    for nodes in 1 2; do
        local d=$WORK/delivery-pg-$nodes db="bench_${nodes}_$$"
        psql -q "$dsn" -c "CREATE DATABASE $db" >/dev/null
        local ndsn=${dsn%/*}/$db
        start_receiver "$d"
        BENCH_DB=$ndsn start_airhook "$d"
        local pid1=$AH_PID ah1=$AH pid2=""
        if [ "$nodes" = 2 ]; then
            BENCH_DB=$ndsn start_airhook "$d/node2"
            pid2=$AH_PID
            AH=$ah1
            AH_PID=$pid1
        fi
        seed
        make_payloads "$d"
        hooks_setup 10
        local want=$((EVENTS * 10))
        local lsn0 rows0
        psql -XAtq "$ndsn" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null 2>&1 &&
            psql -XAtq "$ndsn" -c "SELECT pg_stat_statements_reset()" >/dev/null
        lsn0=$(psql -XAtq "$ndsn" -c "SELECT pg_current_wal_lsn()")
        rows0=$(pg_rows "$ndsn")
        publish "$d" "$EVENTS" --concurrency 16
        wait_count "$want" 300
        local wal
        wal=$(psql -XAtq "$ndsn" -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')")
        local first last got rate
        first=$($UTIL json "$d/publish.json" first_us)
        last=$(st last_us)
        got=$(st count)
        rate=$(calc "$got / (($last - $first) / 1e6)")
        [ -n "$pid2" ] && stop "$pid2"
        stop "$pid1"
        stop "$RCV_PID"
        sleep 1 # the stopped backends' statistics reach pg_stat_user_tables
        local rows per_rows per_wal
        rows=$(( $(pg_rows "$ndsn") - rows0 ))
        per_rows=$(calc "$rows / $got")
        per_wal=$(calc "$wal / $got")
        local pct="—" base="—"
        if [ -n "$DELIVERY_RATE" ]; then
            pct="$(calc "100 * $rate / $DELIVERY_RATE")%"
            base="$DELIVERY_RATE deliveries/s (delivery row, SQLite)"
        fi
        row "delivery-pg-$nodes" "$rate deliveries/s ($nodes node$([ "$nodes" = 2 ] && echo s)); $per_wal WAL bytes and $per_rows rows written per delivery" \
            "$base" "$pct" \
            "≥ 10k/s (1 node, durable)" "$( [ "$nodes" = 1 ] && { awk -v r="$rate" 'BEGIN{exit !(r >= 10000)}' && echo met || echo "**missed**"; } || echo measured)" \
            "AH_PG_DURABLE=1 BENCH_DB=postgres://… bench_loadgen --url \$AH/admin/v1/events --count $EVENTS --concurrency 16 (10 webhooks, $nodes node(s))"
        detail "- **delivery-pg-$nodes**: PostgreSQL 15 (throwaway cluster, durable: fsync, full_page_writes, synchronous_commit on), $nodes airhook node(s) with \`--role all\` on one database, publishing through the first; $EVENTS events x 10 webhooks = $want deliveries, $got acknowledged in $(calc "($last - $first) / 1e6") s from the first publish to the last acknowledgement. WAL written meanwhile: $wal bytes ($per_wal per delivery, pg_wal_lsn_diff); rows inserted, updated and deleted: $rows ($per_rows per delivery; per table since the database was made: $(pg_rows_detail "$ndsn"))."
        pg_statements "$ndsn" "$got" "delivery-pg-$nodes"
        psql -q "$dsn" -c "DROP DATABASE $db" >/dev/null 2>&1 || true
    done
    [ -n "$pgdir" ] && sh "$ROOT/scripts/pg-test.sh" stop "$pgdir" >/dev/null 2>&1
}

# soak (issue 11): a server that runs for a long time with retention.  Steady
# publishing (fan-out 10) at about half the delivery capacity for SOAK_SECS,
# with --retention SOAK_RETENTION, sampling every 10 s: RSS, the database file
# and its WAL, deliveries in the window and their latency p99, and what the
# purge removed.  Pass: RSS and file + WAL flat in the second half (the last
# sample at most 1.1 x the one at half time), every delivery acknowledged
# (none failed, none left pending), and the p99 of the second half within 2 x
# the latency scenario's.  Then the latency scenario's load again while the
# purge removes the soak's last events: its p99 against the same load on the
# fresh server before the soak.
SOAK_EVERY=10
soak_sample() { # T: one line of samples (util.py SOAK_COLS) into $d/soak.tsv
    local t=$1 from=$SOAK_LAT_N db wal rss n rate p99 purged free stall purge_s
    curl -sS "$RCV/stats?from=$from" >"$d/s.json"
    n=$($UTIL json "$d/s.json" count)
    SOAK_LAT_N=$($UTIL json "$d/s.json" lat_n)
    p99=$(calc "$($UTIL json "$d/s.json" p99_us) / 1000")
    rate=$(calc "($n - $SOAK_COUNT) / $SOAK_EVERY")
    rss=$(rss_kb "$AH_PID" VmRSS)
    db=$(stat -c %s "$d/airhook.db")
    wal=$(stat -c %s "$d/airhook.db-wal" 2>/dev/null || echo 0)
    admin GET /admin/v1/retention >"$d/r.json"
    purged=$($UTIL json "$d/r.json" removedSinceStart.events)
    free=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))["disk"]; print(d["freeBytes"] if d else 0)' "$d/r.json")
    # What held the writers so far (seconds, cumulative): checkpoint stalls and the purge.
    [ -f "$d/m.txt" ] && mv "$d/m.txt" "$d/m-prev.txt"
    curl -sS "$AH/metrics" >"$d/m.txt"
    stall=$(awk '$1 == "airhook_store_stall_seconds_total" {print $2}' "$d/m.txt")
    purge_s=$(awk '$1 == "airhook_retention_transaction_seconds_total" {print $2}' "$d/m.txt")
    # Where the p99 waits: before the request goes out (lag) or in it (duration), per 10 s.
    local lag=0 send=0
    if [ -f "$d/m-prev.txt" ]; then
        lag=$($UTIL hist-p99 "$d/m-prev.txt" "$d/m.txt" airhook_delivery_lag_seconds)
        send=$($UTIL hist-p99 "$d/m-prev.txt" "$d/m.txt" airhook_delivery_attempt_duration_seconds)
    fi
    printf '%s %s %s %s %s %s %s %s %s %s %s %s %s\n' "$t" "$rss" "$db" "$wal" "$((n - SOAK_COUNT))" \
        "$rate" "$p99" "$purged" "$free" "${stall:-0}" "${purge_s:-0}" "$lag" "$send" >>"$d/soak.tsv"
    SOAK_COUNT=$n
}
# soak_latency NAME: the latency scenario's load (200 events/s x 10) for LAT_SECS on this
# server; its p99 in ms on stdout
soak_latency() {
    local n=$((200 * LAT_SECS)) from c0
    curl -sS "$RCV/stats" >"$d/l0.json"
    from=$($UTIL json "$d/l0.json" lat_n)
    c0=$($UTIL json "$d/l0.json" count)
    mkdir -p "$d/$1"
    cp "$d/event.tpl" "$d/$1/event.tpl"
    publish "$d/$1" "$n" --rate 200 --concurrency 16
    wait_count $((c0 + n * 10)) 60
    curl -sS "$RCV/stats?from=$from" >"$d/$1/stats.json"
    calc "$($UTIL json "$d/$1/stats.json" p99_us) / 1000"
}
scenario_soak() {
    local d=$WORK/soak
    start_receiver "$d" --max-samples $((16 << 20))
    start_airhook "$d" --retention "$SOAK_RETENTION"
    seed
    make_payloads "$d"
    hooks_setup 10
    # The references: the latency scenario's load on this fresh server, and the delivery
    # capacity (this run's delivery row, or a short burst here).
    local ref_p99 cap cap_src
    ref_p99=$(soak_latency ref)
    if [ -n "$DELIVERY_RATE" ]; then
        cap=$DELIVERY_RATE
        cap_src="the delivery row of this run"
    else
        local c0 burst=$((EVENTS / 2))
        curl -sS "$RCV/stats" >"$d/b0.json"
        c0=$($UTIL json "$d/b0.json" count)
        mkdir -p "$d/burst"
        cp "$d/event.tpl" "$d/burst/event.tpl"
        publish "$d/burst" "$burst" --concurrency 16
        wait_count $((c0 + burst * 10)) 120
        cap=$(calc "($(st count) - $c0) / (($(st last_us) - $($UTIL json "$d/burst/publish.json" first_us)) / 1e6)")
        cap_src="a burst of $burst events x 10 on this server just before"
    fi
    local eps
    eps=$("$PY" -c "print(max(10, round($cap / 2 / 10)))")
    log "soak: capacity $cap deliveries/s ($cap_src); publishing $eps events/s x 10 for $SOAK_SECS s, --retention $SOAK_RETENTION"
    # The soak: publishing in the background, a sample every 10 s.
    curl -sS "$RCV/stats" >"$d/s.json"
    SOAK_COUNT=$($UTIL json "$d/s.json" count)
    SOAK_LAT_N=$($UTIL json "$d/s.json" lat_n)
    local count0=$SOAK_COUNT lat0=$SOAK_LAT_N
    : >"$d/soak.tsv"
    local hwm0
    hwm0=$(rss_kb "$AH_PID" VmHWM)
    mkdir -p "$d/soak"
    cp "$d/event.tpl" "$d/soak/event.tpl"
    publish "$d/soak" $((eps * SOAK_SECS)) --rate "$eps" --concurrency 32 --duration "$SOAK_SECS" &
    local pub_pid=$! t0 t next mid_lat=""
    PIDS+=("$pub_pid")
    t0=$(date +%s.%N)
    soak_sample 0
    for t in $(seq "$SOAK_EVERY" "$SOAK_EVERY" "$SOAK_SECS"); do
        next=$("$PY" -c "print(max(0.0, $t0 + $t - $(date +%s.%N)))")
        sleep "$next"
        soak_sample "$t"
        if [ "$t" -ge $((SOAK_SECS / 2)) ] && [ -z "$mid_lat" ]; then mid_lat=$SOAK_LAT_N; fi
    done
    wait "$pub_pid" || true
    local published want
    published=$($UTIL json "$d/soak/publish.json" ok)
    want=$((count0 + published * 10))
    wait_count "$want" 120
    local got p99_2nd
    got=$(($(st count) - count0))
    curl -sS "$RCV/stats?from=${mid_lat:-$lat0}" >"$d/second-half.json"
    p99_2nd=$(calc "$($UTIL json "$d/second-half.json" p99_us) / 1000")
    # While the purge removes the soak's last events (they age past the retention in the
    # next SOAK_RETENTION): the latency load again.
    local purged0 purged1 under_p99
    purged0=$(admin GET /admin/v1/retention | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["removedSinceStart"]["deliveries"])')
    under_p99=$(soak_latency under-purge)
    admin GET /admin/v1/retention >"$d/r-end.json"
    purged1=$($UTIL json "$d/r-end.json" removedSinceStart.deliveries)
    local failed pending
    curl -sS "$AH/metrics" >"$d/metrics.txt"
    failed=$(awk '/^airhook_delivery_attempts_total\{outcome="failed"\}/ {print $2}' "$d/metrics.txt")
    local purge_s
    purge_s=$(awk '/^airhook_retention_transaction_seconds_total / {print $2}' "$d/metrics.txt")
    pending=$(awk '/^airhook_delivery_queue_depth / {print $2}' "$d/metrics.txt")
    # The verdict.
    local rows mid last rss_mid rss_last db_mid db_last
    rows=$(wc -l <"$d/soak.tsv")
    mid=$(awk -v t=$((SOAK_SECS / 2)) '$1 >= t {print; exit}' "$d/soak.tsv")
    last=$(tail -1 "$d/soak.tsv")
    rss_mid=$(echo "$mid" | awk '{print $2}')
    rss_last=$(echo "$last" | awk '{print $2}')
    db_mid=$(echo "$mid" | awk '{print $3 + $4}')
    db_last=$(echo "$last" | awk '{print $3 + $4}')
    local ref_lat=${LATENCY_P99:-$ref_p99} ref_src="the latency row of this run"
    [ -z "$LATENCY_P99" ] && ref_src="the latency scenario's load on this server before the soak"
    local ok_rss ok_db ok_lost ok_p99 res
    ok_rss=$(verdict "$rss_last <= 1.1 * $rss_mid")
    ok_db=$(verdict "$db_last <= 1.1 * $db_mid")
    ok_lost=$(verdict "$got >= $published * 10 and ${failed:-0} == 0 and ${pending:-1} == 0")
    ok_p99=$(verdict "$p99_2nd <= 2 * $ref_lat")
    res=$(verdict "'$ok_rss' == 'met' and '$ok_db' == 'met' and '$ok_lost' == 'met' and '$ok_p99' == 'met'")
    row soak "RSS $(mb "$rss_mid") → $(mb "$rss_last") MB, file + WAL $(calc "$db_mid / 1048576") → $(calc "$db_last / 1048576") MB (half time → end); $got of $((published * 10)) delivered; p99 $p99_2nd ms (2nd half); latency load during a purge p99 $under_p99 ms" \
        "p99 $ref_lat ms ($ref_src); $ref_p99 ms here before the soak" "$(calc "100 * $p99_2nd / $ref_lat")%" \
        "RSS and file + WAL at the end ≤ 1.1 × at half time; none lost; p99 ≤ 2 × latency's" "$res" \
        "bench_loadgen --rate $eps --duration $SOAK_SECS (10 webhooks), airhook --retention $SOAK_RETENTION"
    # The plot: bench/soak.svg beside RESULTS.md (soak-quick.svg beside
    # RESULTS-quick.md), NAME.soak.svg beside another BENCH_RESULTS, or in the
    # work directory when no results are written.
    local svg_path
    case $RESULTS in
    "") svg_path=$WORK/soak.svg ;;
    "$ROOT/bench/RESULTS.md") svg_path=$ROOT/bench/soak.svg ;;
    "$ROOT/bench/RESULTS-quick.md") svg_path=$ROOT/bench/soak-quick.svg ;;
    *) svg_path=${RESULTS%.md}.soak.svg ;;
    esac
    local svg_name=${svg_path##*/}
    $UTIL soak-svg "$d/soak.tsv" "$svg_path" \
        "airhook soak: $eps events/s x 10 webhooks, --retention $SOAK_RETENTION, $(date -u '+%Y-%m-%d %H:%M UTC')"
    cp "$d/soak.tsv" "$WORK/soak.tsv"
    detail "- **soak**: $SOAK_SECS s of \`bench_loadgen --rate $eps\` (fan-out 10: $((eps * 10)) deliveries/s, half of $cap deliveries/s measured by $cap_src) against \`airhook serve --retention $SOAK_RETENTION\`; $published events published, $got deliveries acknowledged (want $((published * 10)); failed attempts: ${failed:-?}, still pending: ${pending:-?}). Sampled every $SOAK_EVERY s ($rows samples; plot: \`$svg_name\`): RSS $ok_rss (at most 1.1 × the sample at half time: $(mb "$rss_mid") → $(mb "$rss_last") MB; VmHWM before the soak $(mb "$hwm0") MB, after $(mb "$(rss_kb "$AH_PID" VmHWM)") MB), database file + WAL $ok_db ($(calc "$db_mid / 1048576") → $(calc "$db_last / 1048576") MB), none lost: $ok_lost, latency p99 of the second half $p99_2nd ms against $ref_lat ms from $ref_src (≤ 2×: $ok_p99). The purge removed $($UTIL json "$d/r-end.json" removedSinceStart.events) events, $purged1 deliveries, $($UTIL json "$d/r-end.json" removedSinceStart.attempts) attempts in $($UTIL json "$d/r-end.json" passes) passes, inside write transactions for ${purge_s:-0} s in all ($(calc "1e6 * ${purge_s:-0} / max(1, $purged1)") µs per delivery removed, with its attempt and its share of the event), its longest batch $($UTIL json "$d/r-end.json" longestBatchMicroseconds) µs."
    detail "  - **latency while a purge runs**: the latency scenario's load (200 events/s x 10 for $LAT_SECS s) right after the soak, while the purge removed the soak's last events ($((purged1 - purged0)) deliveries removed meanwhile): p99 $under_p99 ms (p50 $(calc "$($UTIL json "$d/under-purge/stats.json" p50_us) / 1000") ms, max $(calc "$($UTIL json "$d/under-purge/stats.json" max_us) / 1000") ms), against $ref_p99 ms for the same load on the fresh server before the soak."
    detail ""
    detail "  Samples (every $SOAK_EVERY s; deliveries/s and p99 over the 10 s before the sample):"
    detail ""
    detail "$($UTIL soak-table "$d/soak.tsv" | sed 's/^/  /')"
    detail ""
    stop "$AH_PID"
    stop "$RCV_PID"
}

# The statements that took the database's time (pg_stat_statements), per
# operation: a table in the profiles file.
pg_statements() {
    local dsn=$1 ops=$2 name=$3
    psql -XAtq "$dsn" -c "SELECT 1 FROM pg_stat_statements LIMIT 1" >/dev/null 2>&1 || return 0
    {
        echo "### $name: statements on PostgreSQL (pg_stat_statements)"
        echo
        echo "Per delivery ($ops deliveries); the time is PostgreSQL's execution time."
        echo
        echo "| calls per delivery | ms total | µs per call | rows per call | statement |"
        echo "| ---: | ---: | ---: | ---: | --- |"
        psql -XAtq -F '|' "$dsn" -c "SELECT round(calls::numeric / $ops, 3),
            round(total_exec_time::numeric, 1), round((total_exec_time * 1000 / calls)::numeric, 1),
            round(rows::numeric / calls, 2),
            left(regexp_replace(query, '\s+', ' ', 'g'), 90)
            FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database
            WHERE datname = current_database()) AND calls > 0
            ORDER BY total_exec_time DESC LIMIT 12" |
            awk -F'|' '{gsub(/\|/, "/", $5); printf "| %s | %s | %s | %s | `%s` |\n", $1, $2, $3, $4, $5}'
        echo
        echo "Transactions committed per delivery: $(psql -XAtq "$dsn" -c "SELECT round(xact_commit::numeric / $ops, 3) FROM pg_stat_database WHERE datname = current_database()") (since the database was made)."
        echo
    } >>"$PROFILES"
}

# The API scenarios again on PostgreSQL (durable settings, a fresh database
# each), as NAME-pg rows beside the SQLite figures of the same run (delivery
# has its own scenario, delivery-pg): what a user who moves to PostgreSQL
# keeps of the single-node speed.  No profiles.
scenario_pg() {
    local pgdir dsn
    dsn=$(AH_PG_DURABLE=1 sh "$ROOT/scripts/pg-test.sh" start 2>"$WORK/pg2-start.err" | tail -1) ||
        { log "pg: PostgreSQL did not start: $(tail -3 "$WORK/pg2-start.err")"; return 0; }
    pgdir=$(sed -n 's/^AH_TEST_PG_DIR=//p' "$WORK/pg2-start.err" | tail -1)
    local s saved_work=$WORK saved_rate=$DELIVERY_RATE saved_profile=$PROFILE
    for s in api-list api-register ingest; do  # delivery: the delivery-pg scenario
        local db="bench_pg_${s//-/_}_$$"
        psql -q "$dsn" -c "CREATE DATABASE $db" >/dev/null
        mkdir -p "$saved_work/pg"
        log "== $s on PostgreSQL"
        WORK=$saved_work/pg PG_ROWS=1 PROFILE=0 BENCH_DB=${dsn%/*}/$db "scenario_${s//-/_}"
        psql -q "$dsn" -c "DROP DATABASE $db" >/dev/null 2>&1 || true
    done
    WORK=$saved_work DELIVERY_RATE=$saved_rate PROFILE=$saved_profile
    [ -n "$pgdir" ] && sh "$ROOT/scripts/pg-test.sh" stop "$pgdir" >/dev/null 2>&1
}

# Rows inserted, updated and deleted in a database's tables so far.
pg_rows() {
    psql -XAtq "$1" -c "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"
}

# Per table, rows inserted / updated (HOT among them) so far, for the details.
pg_rows_detail() {
    psql -XAtq "$1" -c "SELECT string_agg(relname || ' ' || n_tup_ins || ' ins, ' || n_tup_upd
        || ' upd (' || n_tup_hot_upd || ' HOT)', '; ' ORDER BY relname)
        FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0
        AND relname IN ('events', 'deliveries', 'attempts', 'webhooks')"
}

# ---------------------------------------------------------------------------
START=$(date +%s)
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
log "airhook bench: ${SCENARIOS} (quick=$QUICK, work dir $WORK)"
for s in $SCENARIOS; do
    case $s in
    api-list | api-register | ingest | delivery | live | latency | isolation | backlog | footprint | delivery-pg | pg | soak) ;;
    *) die "unknown scenario $s" ;;
    esac
    t0=$(date +%s)
    log "== $s"
    "scenario_${s//-/_}"
    log "== $s done in $(($(date +%s) - t0)) s"
done
ELAPSED=$(($(date +%s) - START))
LOAD_END=$(cut -d' ' -f1 /proc/loadavg)

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain -- src include CMakeLists.txt 2>/dev/null)" ]; then
    COMMIT="$COMMIT (with uncommitted changes in src/)"
fi
MODE=full
[ "$QUICK" = 1 ] && MODE="QUICK=1 (smaller counts and durations)"
{
    echo "# airhook benchmark results"
    echo
    echo "Written by \`make bench\` ($MODE) on $(date -u '+%Y-%m-%d %H:%M UTC'), in $ELAPSED s."
    echo
    echo "- machine: $NPROC cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
    echo "- load average (1 min) at the start $LOAD_START, at the end $LOAD_END: other work on the machine shares the $NPROC cores and shows up as noise"
    echo "- airhook commit: $COMMIT, \`build/airhook\` (release build, RelWithDebInfo)"
    echo "- every scenario: a fresh \`airhook serve --listen 127.0.0.1:0 --db sqlite:<tmp>/airhook.db --log-level warn --allow-net 127.0.0.0/8 --shutdown-grace 1s $(quota_flags)${BENCH_AIRHOOK_FLAGS:+ $BENCH_AIRHOOK_FLAGS}\` (SQLite default, WAL, synchronous=NORMAL), seeded through the admin and public APIs; \`--log-level warn\` so that the per-request and per-attempt log lines (info) do not dominate; load generator, receiver and baseline on the same machine; wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}') with $WRK_T threads and $CONNS connections, ${WARM} s warm-up then ${DUR} s measured"
    echo "- \`\$AH\` is the airhook under test; every scenario runs alone with \`bench/run.sh --only NAME\` (\`--quick\` for the small sizes)"
    echo
    $UTIL table "$TSV"
    echo
    echo "## Details"
    echo
    cat "$DETAILS"
    echo
    if [ -s "$PROFILES" ]; then
        echo "## Profiles of the missed targets (this run)"
        echo
        cat "$PROFILES"
    fi
    if [ -f "$ROOT/bench/ANALYSIS.md" ]; then
        echo
        cat "$ROOT/bench/ANALYSIS.md"
    fi
} >"$WORK/RESULTS.md"

echo
$UTIL table "$TSV"
echo
if [ -n "$RESULTS" ]; then
    cp "$WORK/RESULTS.md" "$RESULTS"
    log "wrote $RESULTS (${ELAPSED} s)"
else
    log "partial run (--only): RESULTS.md left alone; set BENCH_RESULTS=path to write one (${ELAPSED} s)"
fi

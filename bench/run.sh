#!/usr/bin/env bash
# bench/run.sh: airhook against this machine's ceiling (issue 4).
#
#   bench/run.sh [--quick] [--only NAME[,NAME...]] [--no-profile] [--keep]
#
# Scenarios: api-list api-register ingest delivery latency isolation backlog
# footprint.  Each starts a fresh `build/airhook serve` (release build) on
# 127.0.0.1:0 with a fresh SQLite file in a temporary directory, seeds it
# through the admin and public APIs, measures the figure and its baseline in
# the same run, and stops every process it started by PID.  Prints the table
# and writes bench/RESULTS.md after a full run of every scenario
# (bench/RESULTS-quick.md with --quick; nothing with --only unless
# BENCH_RESULTS=path is set).  A missed target is profiled (perf) on a short
# extra run of the same server, and the top functions go into RESULTS.md;
# not with --quick (BENCH_PROFILE=1 forces it, BENCH_PROFILE=0 or
# --no-profile turns it off).
#
# Environment: BENCH_RESULTS (where to write the results), BENCH_PROFILE,
# BENCH_WRK_THREADS (default: nproc), BENCH_CONNS (64).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
AIRHOOK=$ROOT/build/airhook
BB=$ROOT/build/bench
UTIL="python3 $ROOT/bench/util.py"
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
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

ALL="api-list api-register ingest delivery latency isolation backlog footprint"
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
    PROFILE=${PROFILE:-0}
else
    DUR=8
    WARM=2
    EVENTS=10000
    LAT_SECS=15
    BACKLOG=1000000
    HOOKS=100000
    PROF_SECS=5
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
    if [ "$KEEP" = 1 ]; then echo "run.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
calc() { $UTIL calc "$1"; }
# cond EXPR: true when the Python expression holds
cond() { [ "$(python3 -c "print(1 if ($1) else 0)")" = 1 ]; }

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

# start_airhook DIR [flags...]: sets AH (base URL) and AH_PID
start_airhook() {
    local dir=$1
    shift
    mkdir -p "$dir"
    "$AIRHOOK" serve --listen 127.0.0.1:0 --db "sqlite:$dir/airhook.db" --admin-token "$TOKEN" \
        --log-level warn --allow-net 127.0.0.0/8 --shutdown-grace 1s "$@" \
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
jf() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

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
        python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["payload"], separators=(",", ":")))')
    local rest=${sample#\{}
    printf '{"communityId":"%s","triggerMetaInfoId":"%s","airmeetId":"%s","data":{"sentAtUs":{us},%s}' \
        "$COMMUNITY" "$TRIGGER" "$AIRMEET" "$rest" >"$dir/event.tpl"
    printf '{"n":0,%s' "$rest" >"$dir/data0.json"
    printf '{"sentAtUs":%s,%s' "$(date +%s%6N)" "$rest" >"$dir/delivery.json"
}

rss_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mb() { calc "$1 / 1024"; }

# wrk_run OUTFILE ARGS...: runs wrk (after a warm-up), keeps its report
wrk_run() {
    local out=$1
    shift
    if [ "$WARM" != 0 ]; then wrk -t"$WRK_T" -c"$CONNS" -d"${WARM}s" "$@" >/dev/null 2>&1 || true; fi
    wrk -t"$WRK_T" -c"$CONNS" -d"${DUR}s" --latency "$@" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
}
# wrk_get FILE FIELD: requests secs rps ok_rps p50_ms p99_ms non2xx sockerr
wrk_get() {
    local i
    case $2 in requests) i=1 ;; secs) i=2 ;; rps) i=3 ;; ok_rps) i=4 ;; p50) i=5 ;; p99) i=6 ;;
    non2xx) i=7 ;; sockerr) i=8 ;; esac
    $UTIL wrk "$1" | awk -v i="$i" '{print $i}'
}

# row SCENARIO FIGURE BASELINE RATIO TARGET RESULT COMMAND
row() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$TSV"
    log "$1: $2 | baseline $3 | ratio $4 | target $5 | $6"
}
detail() { printf '%s\n' "$*" >>"$DETAILS"; }
verdict() { if cond "$1"; then echo met; else echo "**missed**"; fi; }

# cpu_ticks PID: user+system clock ticks the process used so far
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
TICKS=$(getconf CLK_TCK)
# cpu_pct TICKS0 TICKS1 SECONDS: share of one core
cpu_pct() { calc "100.0 * ($2 - $1) / $TICKS / $3"; }

# profile NAME PID SECONDS -- CMD...: perf on PID while CMD runs (bounded by SECONDS)
profile() {
    [ "$PROFILE" = 1 ] || return 0
    local name=$1 pid=$2 secs=$3 data=$WORK/$1.perf
    shift 4
    log "$name: profiling airhook (pid $pid) for ${secs}s"
    local t0 c0 c1
    perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$pid" -o "$data" -- sleep "$secs" \
        >/dev/null 2>&1 &
    local perf_pid=$!
    PIDS+=("$perf_pid")
    sleep 0.3
    c0=$(cpu_ticks "$pid")
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || true
    wait "$perf_pid" 2>/dev/null || true
    c1=$(cpu_ticks "$pid")
    local busy
    busy=$(cpu_pct "$c0" "$c1" "$(calc "$(date +%s.%N) - $t0")")
    perf report -i "$data" --no-children --sort dso,sym --stdio -g none 2>/dev/null >"$data.self" || true
    perf report -i "$data" --children --sort sym --stdio -g none 2>/dev/null >"$data.children" || true
    {
        echo "### $name: profile of airhook"
        echo
        echo "\`perf record -e cpu-clock -F 499 --call-graph dwarf -p <airhook>\` for ${secs} s while ${PROFILE_WHAT:-$*}; airhook used $busy % of one core meanwhile ($NPROC cores)."
        echo "Percentages are of airhook's samples (on-CPU time only: waiting on a lock or the disk is not in them)."
        echo
        echo "Self time (samples in the function itself), top 12:"
        echo
        $UTIL perf-top "$data.self" 12
        echo
        echo "Inclusive time (samples with the function anywhere on the stack), top 30, kernel shown by system call:"
        echo
        $UTIL perf-children "$data.children" 30
        echo
    } >>"$PROFILES"
}

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
    wrk_run "$d/wrk.txt" -H "X-Airmeet-Access-Token: $token" "$url"
    local rps p50 p99 bad
    rps=$(wrk_get "$d/wrk.txt" ok_rps)
    p50=$(wrk_get "$d/wrk.txt" p50)
    p99=$(wrk_get "$d/wrk.txt" p99)
    bad=$(wrk_get "$d/wrk.txt" non2xx)
    start_baseline "$d" "$body_file"
    wrk_run "$d/wrk-base.txt" "$BASE/"
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
    detail "- **api-list**: 10 webhooks in the list, response body $size bytes (the baseline answers the same bytes); non-2xx: $bad."
    if [ "$res" != met ]; then
        PROFILE_WHAT="the same wrk command" profile api-list "$AH_PID" "$PROF_SECS" -- \
            wrk -t"$WRK_T" -c"$CONNS" -d"${PROF_SECS}s" -H "X-Airmeet-Access-Token: $token" "$url"
    fi
    stop "$AH_PID"
}

# api-register: POST webhook-register with distinct urls.
scenario_api_register() {
    local d=$WORK/api-register
    start_airhook "$d"
    seed
    register "http://127.0.0.1:9/first" >"$d/register.json"
    printf '{"name":"bench","triggerMetaInfoId":"%s","url":"http://127.0.0.1:9/h/0-0","platformName":"bench"}' \
        "$TRIGGER" >"$d/body.json"
    export BENCH_PATH="$REGISTER_PATH?airmeetId=$AIRMEET" BENCH_ACCESS=$ACCESS BENCH_SECRET=$SECRET \
        BENCH_TRIGGER=$TRIGGER BENCH_HOOK_BASE="http://127.0.0.1:9/h/"
    # No warm-up here: every request registers a webhook, the table would grow first.
    WARM=0 wrk_run "$d/wrk.txt" -s "$LUA/register.lua" "$AH"
    local rps p99 bad n
    rps=$(wrk_get "$d/wrk.txt" ok_rps)
    p99=$(wrk_get "$d/wrk.txt" p99)
    bad=$(wrk_get "$d/wrk.txt" non2xx)
    n=$(wrk_get "$d/wrk.txt" requests)
    start_baseline "$d" "$d/register.json"
    BENCH_BODY_FILE=$d/body.json wrk_run "$d/wrk-base.txt" -s "$LUA/post.lua" "$BASE/"
    local brps
    brps=$(wrk_get "$d/wrk-base.txt" rps)
    stop "$BASE_PID"
    local res
    res=$(verdict "$rps >= 10000")
    row api-register "$rps req/s (p99 $p99 ms)" "$brps req/s" "$(calc "100 * $rps / $brps")%" \
        "≥ 10k req/s" "$res" \
        "wrk -t$WRK_T -c$CONNS -d${DUR}s --latency -s bench/lua/register.lua \$AH"
    detail "- **api-register**: $n registrations in ${DUR} s, each a distinct url (non-2xx: $bad); the baseline answers a body of the size of a register response ($(stat -c %s "$d/register.json") bytes)."
    if [ "$res" != met ]; then
        PROFILE_WHAT="the same wrk command" profile api-register "$AH_PID" "$PROF_SECS" -- \
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
    wrk_run "$d/wrk.txt" -s "$LUA/ingest.lua" "$AH"
    local eps p50 p99 bad n delivered
    eps=$(wrk_get "$d/wrk.txt" ok_rps)
    p50=$(wrk_get "$d/wrk.txt" p50)
    p99=$(wrk_get "$d/wrk.txt" p99)
    bad=$(wrk_get "$d/wrk.txt" non2xx)
    n=$(wrk_get "$d/wrk.txt" requests)
    curl -sS "$RCV/stats" >"$d/stats.json"
    delivered=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["count"])' "$d/stats.json")
    # The baseline gets the same request bodies and answers a 202's size.
    printf '{"eventId":"00000000-0000-4000-8000-000000000000","deliveries":1,"duplicate":false}' >"$d/answer.json"
    start_baseline "$d" "$d/answer.json"
    wrk_run "$d/wrk-base.txt" -s "$LUA/ingest.lua" "$BASE"
    local brps
    brps=$(wrk_get "$d/wrk-base.txt" rps)
    stop "$BASE_PID"
    local res
    res=$(verdict "$eps >= 15000")
    row ingest "$eps events/s (p50 $p50 ms, p99 $p99 ms)" "$brps req/s" "$(calc "100 * $eps / $brps")%" \
        "≥ 15k events/s" "$res" \
        "wrk -t$WRK_T -c$CONNS -d${DUR}s --latency -s bench/lua/ingest.lua \$AH"
    detail "- **ingest**: $n events accepted with 202 in ${DUR} s of wrk (non-2xx: $bad; the warm-up published more before), each answered after its commit; one webhook per event, delivered meanwhile to a live receiver ($delivered deliveries acknowledged by the end of the run). Body $(($(stat -c %s "$d/data0.json") + 150)) bytes or so."
    if [ "$res" != met ] && [ "$PROFILE" = 1 ]; then
        PROFILE_WHAT="the same wrk command" profile ingest "$AH_PID" "$PROF_SECS" -- \
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
        wrk_run "$d/wrk-hold.txt" -s "$LUA/ingest.lua" "$AH"
        INGEST_NODELIVERY=$(wrk_get "$d/wrk-hold.txt" ok_rps)
        detail "  - The same load with the receiver holding every request (so the dispatcher sends 16 and then idles): $INGEST_NODELIVERY events/s (p99 $(wrk_get "$d/wrk-hold.txt" p99) ms)."
        PROFILE_WHAT="the same wrk command, receiver holding every request (delivery idle)" \
            profile ingest-without-delivery "$AH_PID" "$PROF_SECS" -- \
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

# wait_count N SECONDS [FIELD]: until the receiver has counted N (bounded); stats in $RCV_STATS
wait_count() {
    local n=$1 secs=$2 field=${3:-count} c=0 last=-1 still=0
    local deadline=$(($(date +%s) + secs))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        curl -sS "$RCV/stats" >"$WORK/stats.json"
        c=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/stats.json" "$field")
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

DELIVERY_RATE=""
# delivery: fan-out 10, first publish to last acknowledgement.
scenario_delivery() {
    local d=$WORK/delivery
    start_receiver "$d"
    start_airhook "$d"
    seed
    make_payloads "$d"
    hooks_setup 10
    local want=$((EVENTS * 10))
    publish "$d" "$EVENTS" --concurrency 16
    wait_count "$want" 300
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
    res=$(verdict "$rate >= 20000 and $ratio >= 0.4")
    row delivery "$rate deliveries/s" "$brps req/s (receiver ceiling)" "$(calc "100 * $ratio")%" \
        "≥ 20k/s and ≥ 40 % of the receiver's ceiling" "$res" \
        "bench_loadgen --url \$AH/admin/v1/events --body-file event.tpl --count $EVENTS --concurrency 16 (10 webhooks)"
    detail "- **delivery**: $EVENTS events x 10 webhooks = $want deliveries; $got acknowledged in $(calc "($last - $first) / 1e6") s from the first publish to the last acknowledgement; publishing alone took $($UTIL json "$d/publish.json" elapsed_s) s ($pub_rate events/s). Body $(stat -c %s "$d/delivery.json") bytes. Receiver ceiling: \`wrk -t$WRK_T -c$CONNS -d${DUR}s -s bench/lua/post.lua \$RECEIVER/h/0\` with the same body."
    if [ "$res" != met ]; then
        curl -sS "$RCV/ctl/reset" >/dev/null
        PROFILE_WHAT="bench_loadgen publishing $EVENTS more events (fan-out 10) and their delivery" \
            profile delivery "$AH_PID" "$PROF_SECS" -- publish "$d" "$EVENTS" --concurrency 16
    fi
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
    local n=$((200 * LAT_SECS))
    publish "$d" "$n" --rate 200 --concurrency 16
    wait_count $((n * 10)) 60
    local p50 p99 got secs
    p50=$(calc "$(st p50_us) / 1000")
    p99=$(calc "$(st p99_us) / 1000")
    got=$(st lat_n)
    secs=$(calc "($(st last_us) - $(st first_us)) / 1e6")
    local res
    res=$(verdict "$p50 <= 2 and $p99 <= 25")
    row latency "p50 $p50 ms, p99 $p99 ms" "—" "—" "p50 ≤ 2 ms, p99 ≤ 25 ms" "$res" \
        "bench_loadgen --url \$AH/admin/v1/events --body-file event.tpl --rate 200 --count $n (10 webhooks)"
    detail "- **latency**: $n events at 200/s x 10 webhooks; $got deliveries timed from the publisher's \`sentAtUs\` (taken just before the POST) to their arrival at the receiver, over $secs s ($(calc "$got / $secs") deliveries/s); max $(calc "$(st max_us) / 1000") ms, p90 $(calc "$(st p90_us) / 1000") ms."
    if [ "$res" != met ]; then
        PROFILE_WHAT="bench_loadgen at 200 events/s" profile latency "$AH_PID" "$PROF_SECS" -- \
            publish "$d" $((200 * PROF_SECS)) --rate 200 --concurrency 16
    fi
    stop "$AH_PID"
    stop "$RCV_PID"
}

# isolation: 9 healthy webhooks and a 10th whose every request stalls.
scenario_isolation() {
    local d=$WORK/isolation
    start_receiver "$d" --stall-prefix /stall/ --stall-ms 60000
    start_airhook "$d"
    seed
    make_payloads "$d"
    hooks_setup 10 1
    local want=$((EVENTS * 9))
    publish "$d" "$EVENTS" --concurrency 16
    wait_count "$want" 300
    local first last got rate
    first=$($UTIL json "$d/publish.json" first_us)
    last=$(st last_us)
    got=$(st count)
    rate=$(calc "$got / (($last - $first) / 1e6)")
    local ref=${DELIVERY_RATE:-}
    local ratio="—" res="no delivery figure in this run"
    if [ -n "$ref" ]; then
        ratio="$(calc "100 * $rate / $ref")%"
        res=$(verdict "$rate >= 0.9 * $ref")
    fi
    row isolation "$rate deliveries/s to the 9 healthy" "${ref:-—} deliveries/s (delivery row)" "$ratio" \
        "≥ 90 % of the delivery figure" "$res" \
        "bench_loadgen --url \$AH/admin/v1/events --body-file event.tpl --count $EVENTS --concurrency 16 (9 webhooks + 1 stalling)"
    detail "- **isolation**: $EVENTS events x 9 healthy webhooks = $want deliveries, $got acknowledged in $(calc "($last - $first) / 1e6") s; the 10th webhook's receiver path holds every request 60 s (airhook keeps its 16 connections busy, times them out at 15 s and retries)."
    if [ "$res" != met ] && [ -n "$ref" ]; then
        PROFILE_WHAT="bench_loadgen publishing $EVENTS more events, one webhook stalling" \
            profile isolation "$AH_PID" "$PROF_SECS" -- publish "$d" "$EVENTS" --concurrency 16
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
    local events=$((BACKLOG / 10))
    publish "$d" "$events" --concurrency 32
    local qsecs hwm_q rss_q
    qsecs=$($UTIL json "$d/publish.json" elapsed_s)
    hwm_q=$(rss_kb "$AH_PID" VmHWM)
    rss_q=$(rss_kb "$AH_PID" VmRSS)
    local up_us
    up_us=$(date +%s%6N)
    curl -sS "$RCV/ctl/up" >/dev/null
    wait_count "$BACKLOG" 420
    local last got rate hwm
    last=$(st last_us)
    got=$(st count)
    rate=$(calc "$got / (($last - $up_us) / 1e6)")
    hwm=$(rss_kb "$AH_PID" VmHWM)
    local res
    res=$(verdict "$rate >= 15000 and $hwm <= 150 * 1024")
    row backlog "$rate deliveries/s drained; peak RSS $(mb "$hwm") MB" "—" "—" \
        "≥ 15k/s; peak RSS ≤ 150 MB" "$res" \
        "bench_loadgen --url \$AH/admin/v1/events --count $events --concurrency 32 (10 webhooks, receiver down), then receiver up"
    detail "- **backlog**: $events events x 10 webhooks = $BACKLOG deliveries queued in $qsecs s ($($UTIL json "$d/publish.json" rps) events/s) while the receiver held every connection (airhook with \`--delivery-timeout 300s --lease 600s\` so the held 160 do not time out meanwhile); RSS after queueing $(mb "$rss_q") MB (peak $(mb "$hwm_q") MB). Then the receiver came up: $got delivered in $(calc "($last - $up_us) / 1e6") s. Database file: $(du -m "$d/airhook.db" | cut -f1) MB (+WAL $(du -m "$d/airhook.db-wal" 2>/dev/null | cut -f1) MB)."
    if [ "$res" != met ] && [ "$PROFILE" = 1 ]; then
        # Profile a second, smaller backlog draining on top of the same table.
        curl -sS "$RCV/ctl/down" >/dev/null
        publish "$d" $((events / 10)) --concurrency 32
        curl -sS "$RCV/ctl/reset" >/dev/null
        PROFILE_WHAT="draining $((BACKLOG / 10)) more deliveries queued the same way (the table already holds $BACKLOG done ones)" \
            profile backlog "$AH_PID" "$PROF_SECS" -- curl -sS "$RCV/ctl/up"
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
    if [ "$res" != met ]; then
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

# ---------------------------------------------------------------------------
START=$(date +%s)
log "airhook bench: ${SCENARIOS} (quick=$QUICK, work dir $WORK)"
for s in $SCENARIOS; do
    case $s in
    api-list | api-register | ingest | delivery | latency | isolation | backlog | footprint) ;;
    *) die "unknown scenario $s" ;;
    esac
    t0=$(date +%s)
    log "== $s"
    "scenario_${s//-/_}"
    log "== $s done in $(($(date +%s) - t0)) s"
done
ELAPSED=$(($(date +%s) - START))

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
    echo "- airhook commit: $COMMIT, \`build/airhook\` (release build, RelWithDebInfo)"
    echo "- every scenario: a fresh \`airhook serve --listen 127.0.0.1:0 --db sqlite:<tmp>/airhook.db --log-level warn --allow-net 127.0.0.0/8 --shutdown-grace 1s\` (SQLite default, WAL, synchronous=NORMAL), seeded through the admin and public APIs; \`--log-level warn\` so that the per-request and per-attempt log lines (info) do not dominate; load generator, receiver and baseline on the same machine; wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}') with $WRK_T threads and $CONNS connections, ${WARM} s warm-up then ${DUR} s measured"
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

#!/bin/sh
# SPDX-License-Identifier: MIT
# pg-test.sh: a throwaway PostgreSQL 15 for airhook's tests.
#
#   scripts/pg-test.sh start          start one; print its DSN (last line of stdout)
#   scripts/pg-test.sh stop DIR       stop the one in DIR (printed by start) and remove DIR
#   scripts/pg-test.sh run CMD ARG... start one, run CMD with AH_TEST_PG_DSN (and
#                                     AIRHOOK_TEST_PG_DSN) exported, stop it whatever
#                                     happens; exit with CMD's status (3 becomes 1)
#
# If AH_TEST_PG_DSN is already set and a server answers there, that server is
# used and nothing is started or stopped.
#
# Otherwise a cluster is made in a fresh temporary directory with initdb
# (--no-locale, UTF8, trust authentication), listening on 127.0.0.1 only, on
# a free port, with its unix socket inside the directory; fsync is off (the
# data is thrown away; a crash of PostgreSQL itself still loses nothing
# committed, only an OS crash would).  initdb refuses to run as root, so as
# root (CI) every server command runs as the `postgres` system user that the
# postgresql-15 package creates, and the directory belongs to that user.
# AH_PG_DURABLE=1 keeps PostgreSQL's durable settings instead (fsync and
# full_page_writes on, synchronous_commit on), as a benchmark of a
# production setup needs; AH_PG_STATEMENTS=1 loads pg_stat_statements, for
# a benchmark's profile of the statements run.
#
# start prints "AH_TEST_PG_DIR=<dir>" on stderr and the DSN on stdout.
# Exit status 3 means "PostgreSQL could not be started" (as opposed to a
# failing CMD), so callers can tell the two apart.
set -eu

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
START_TIMEOUT=${PG_START_TIMEOUT:-60}
NOT_STARTED=3

say() { echo "pg-test: $*" >&2; }

# Runs a command as the user that owns the cluster.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            # shellcheck disable=SC2145
            su postgres -s /bin/sh -c "$(quote_args "$@")"
        fi
    else
        "$@"
    fi
}

# Quotes each argument for sh -c.
quote_args() {
    out=""
    for a in "$@"; do
        q=$(printf '%s' "$a" | sed "s/'/'\\\\''/g")
        out="$out '$q'"
    done
    printf '%s' "$out"
}

# A free TCP port on 127.0.0.1 (the kernel's pick; a race is retried by start).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# True when a server answers at DSN within a few seconds.
reachable() {
    PGCONNECT_TIMEOUT=3 psql "$1" -XAtqc 'SELECT 1' >/dev/null 2>&1
}

check_tools() {
    for b in initdb pg_ctl postgres; do
        if [ ! -x "$PG_BIN/$b" ]; then
            say "$PG_BIN/$b not found: install postgresql-15 (scripts/install-deps.sh)"
            return 1
        fi
    done
    if ! command -v psql >/dev/null 2>&1; then
        say "psql not found: install postgresql-client-15"
        return 1
    fi
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        say "running as root but there is no 'postgres' user to run the server as"
        return 1
    fi
}

# Writes the settings and access rules of a test cluster in $1/data.
configure() {
    dir=$1 port=$2
    cat >>"$dir/data/postgresql.conf" <<EOF

# airhook tests (scripts/pg-test.sh)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/sock'
max_connections = 300
logging_collector = off
log_min_messages = warning
EOF
    if [ "${AH_PG_DURABLE:-0}" = 1 ]; then
        printf 'fsync = on\nfull_page_writes = on\nsynchronous_commit = on\n' \
            >>"$dir/data/postgresql.conf"
    else
        printf 'fsync = off\nfull_page_writes = off\n' >>"$dir/data/postgresql.conf"
    fi
    if [ "${AH_PG_STATEMENTS:-0}" = 1 ]; then
        printf "shared_preload_libraries = 'pg_stat_statements'\n" >>"$dir/data/postgresql.conf"
    fi
    cat >"$dir/data/pg_hba.conf" <<EOF
# airhook tests: trust, and only from this machine.
local all all trust
host all all 127.0.0.1/32 trust
EOF
}

# Starts a cluster in a fresh directory; prints the DSN.  Status 3 on failure.
start() {
    if [ -n "${AH_TEST_PG_DSN:-}" ]; then
        if reachable "$AH_TEST_PG_DSN"; then
            say "using the server at AH_TEST_PG_DSN"
            echo "$AH_TEST_PG_DSN"
            return 0
        fi
        say "AH_TEST_PG_DSN is set but nothing answers there; starting a server of our own"
    fi
    check_tools || return $NOT_STARTED
    dir=$(mktemp -d /tmp/airhook-pg-XXXXXX) || return $NOT_STARTED
    # Interrupted half-way: nothing stays behind.
    # shellcheck disable=SC2064
    trap "stop_dir '$dir'; exit 130" INT TERM
    mkdir -p "$dir/sock"
    chmod 755 "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres "$dir"
    fi
    if ! (cd "$dir" && as_owner timeout "$START_TIMEOUT" "$PG_BIN/initdb" -D "$dir/data" \
            -U postgres -A trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1); then
        say "initdb failed:"
        sed 's/^/  /' "$dir/initdb.log" >&2
        rm -rf "$dir"
        trap - INT TERM
        return $NOT_STARTED
    fi
    cp "$dir/data/postgresql.conf" "$dir/postgresql.conf.orig"
    tries=0
    while :; do
        tries=$((tries + 1))
        port=$(free_port)
        cp "$dir/postgresql.conf.orig" "$dir/data/postgresql.conf"
        configure "$dir" "$port"
        if (cd "$dir" && as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
                -w -t "$START_TIMEOUT" start >/dev/null 2>&1); then
            break
        fi
        if [ "$tries" -ge 3 ]; then
            say "the server did not start; its log:"
            tail -n 30 "$dir/server.log" 2>/dev/null | sed 's/^/  /' >&2
            stop_dir "$dir"
            trap - INT TERM
            return $NOT_STARTED
        fi
        # Most likely the port was taken meanwhile: try another.
        say "start failed on port $port; retrying"
    done
    dsn="postgres://postgres@127.0.0.1:$port/postgres"
    i=0
    until reachable "$dsn"; do
        i=$((i + 1))
        if [ "$i" -ge "$START_TIMEOUT" ]; then
            say "the server started but does not answer on $dsn"
            stop_dir "$dir"
            trap - INT TERM
            return $NOT_STARTED
        fi
        sleep 1
    done
    say "PostgreSQL $("$PG_BIN/postgres" -V | sed 's/^[^0-9]*\([0-9.]*\).*/\1/') up on 127.0.0.1:$port"
    trap - INT TERM
    echo "AH_TEST_PG_DIR=$dir" >&2
    echo "$dsn"
}

# Stops the cluster in $1 (pg_ctl, then its postmaster pid if need be) and removes $1.
stop_dir() {
    dir=$1
    case "$dir" in
    /tmp/airhook-pg-*) ;;
    *)
        say "refusing to remove $dir (not made by pg-test.sh)"
        return 1
        ;;
    esac
    if [ -f "$dir/data/postmaster.pid" ]; then
        pid=$(head -n 1 "$dir/data/postmaster.pid")
        (cd "$dir" && as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop \
            >/dev/null 2>&1) || true
        case "$pid" in
        '' | *[!0-9]*) ;;
        *)
            # pg_ctl failed or timed out: quit the postmaster by its pid.
            if kill -0 "$pid" 2>/dev/null; then
                kill -QUIT "$pid" 2>/dev/null || true
                i=0
                while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
                    sleep 0.2
                    i=$((i + 1))
                done
                kill -KILL "$pid" 2>/dev/null || true
            fi
            ;;
        esac
    fi
    rm -rf "$dir"
}

run() {
    [ $# -gt 0 ] || {
        say "run needs a command"
        return 2
    }
    dsn=$(start 2>"${TMPDIR:-/tmp}/pg-test.$$.err") || {
        rc=$?
        cat "${TMPDIR:-/tmp}/pg-test.$$.err" >&2
        rm -f "${TMPDIR:-/tmp}/pg-test.$$.err"
        return $rc
    }
    dir=$(sed -n 's/^AH_TEST_PG_DIR=//p' "${TMPDIR:-/tmp}/pg-test.$$.err")
    grep -v '^AH_TEST_PG_DIR=' "${TMPDIR:-/tmp}/pg-test.$$.err" >&2 || true
    rm -f "${TMPDIR:-/tmp}/pg-test.$$.err"
    if [ -n "$dir" ]; then
        # shellcheck disable=SC2064
        trap "stop_dir '$dir'" EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
    fi
    set +e
    AH_TEST_PG_DSN=$dsn AIRHOOK_TEST_PG_DSN=$dsn "$@"
    rc=$?
    set -e
    # 3 is ours ("could not start"): a failing CMD must not look like it.
    [ "$rc" -eq $NOT_STARTED ] && rc=1
    return $rc
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
start) start ;;
stop)
    [ $# -eq 1 ] || {
        say "usage: $0 stop DIR"
        exit 2
    }
    stop_dir "$1"
    ;;
run) run "$@" ;;
*)
    echo "usage: $0 start | stop DIR | run CMD [ARG...]" >&2
    exit 2
    ;;
esac

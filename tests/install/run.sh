#!/bin/sh
# SPDX-License-Identifier: MIT
# install-check: `make install` into a scratch DESTDIR, then use what it put
# there as a user would:
# - the files are where the README says (binary, shared and static library,
#   header, airhook-verify.pc, man pages, LICENSE), the library exports only
#   its API under the soname libairhook-verify.so.0, and the header, .pc and
#   man pages carry the MIT licence;
# - examples/receiver builds against the installed .pc (PKG_CONFIG_PATH and
#   PKG_CONFIG_SYSROOT_DIR point into the DESTDIR), linked shared and static,
#   and each answers 204 to a signed request on 127.0.0.1, 401 to a tampered
#   or unsigned one;
# - `make uninstall` leaves nothing behind.
# Every process started here is stopped by its PID; every wait is bounded.
#
# Usage: tests/install/run.sh      (from anywhere; uses the release tree build/)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/airhook-install.XXXXXX")
dest=$scratch/root
prefix=/usr/local
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "pass $1"
}
bad() {
    failed=$((failed + 1))
    echo "FAIL $1"
}
check() { # NAME COMMAND...
    name=$1
    shift
    if "$@" >"$scratch/out" 2>&1; then ok "$name"; else
        bad "$name"
        sed 's/^/    /' "$scratch/out" | tail -20
    fi
}

make -C "$root" --no-print-directory install DESTDIR="$dest" PREFIX="$prefix" >"$scratch/install.log" 2>&1 || {
    cat "$scratch/install.log"
    echo "install-check: make install failed"
    exit 1
}
p=$dest$prefix
for f in bin/airhook lib/libairhook-verify.so lib/libairhook-verify.so.0 lib/libairhook-verify.a \
    lib/pkgconfig/airhook-verify.pc include/airhook/verify.h share/doc/airhook/LICENSE \
    share/man/man1/airhook.1 share/man/man1/airhook-serve.1 share/man/man1/airhook-receive.1 \
    share/man/man1/airhook-webhooks.1 share/man/man1/airhook-keys.1 share/man/man1/airhook-listen.1; do
    check "installed $f" test -e "$p/$f"
done
check "the installed airhook runs" sh -c "'$p/bin/airhook' version | grep -q '^airhook '"
check "soname is libairhook-verify.so.0" sh -c \
    "objdump -p '$p/lib/libairhook-verify.so' | grep -q 'SONAME *libairhook-verify.so.0\$'"
exports=$(nm -D --defined-only "$p/lib/libairhook-verify.so" | awk '$2 == "T" { print $3 }' | sort | tr '\n' ' ')
want="ah_webhook_secret_check ah_webhook_sign ah_webhook_strerror ah_webhook_verify ah_webhook_verify_at ah_webhook_version "
if [ "$exports" = "$want" ]; then ok "the library exports its API only"; else bad "exports: $exports"; fi
check "verify.h carries the licence" grep -q 'SPDX-License-Identifier: MIT' "$p/include/airhook/verify.h"
check "airhook-verify.pc carries the licence" grep -q 'SPDX-License-Identifier: MIT' \
    "$p/lib/pkgconfig/airhook-verify.pc"
check "LICENSE is MIT" grep -q '^MIT License' "$p/share/doc/airhook/LICENSE"
for m in "$p"/share/man/man1/airhook*.1; do
    check "$(basename "$m") names the licence" grep -q 'MIT licence' "$m"
    if command -v groff >/dev/null 2>&1; then
        check "$(basename "$m") renders without warnings" sh -c "! groff -man -ww -z '$m' 2>&1 | grep ."
    fi
done

# The example, built as its README says, against the DESTDIR.
export PKG_CONFIG_PATH="$p/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
check "pkg-config finds airhook-verify" pkg-config --exists airhook-verify
cp -r "$root/examples/receiver" "$scratch/shared"
cp -r "$root/examples/receiver" "$scratch/static"
check "examples/receiver builds against the .pc (shared)" make -C "$scratch/shared" CFLAGS="-O2 -Wall -Wextra -Werror"
check "examples/receiver builds against the .pc (static)" make -C "$scratch/static" STATIC=1 CFLAGS="-O2 -Wall -Wextra -Werror"
check "the shared build loads the installed library" sh -c \
    "LD_LIBRARY_PATH='$p/lib' ldd '$scratch/shared/receiver' | grep -q '$p/lib/libairhook-verify.so.0'"
check "the static build needs no libairhook-verify.so" sh -c \
    "! ldd '$scratch/static/receiver' | grep -q libairhook-verify"

secret="whsec_$(head -c 24 /dev/urandom | base64)"
sign() { # ID TS BODY -> v1,<base64>
    python3 -c 'import base64,hashlib,hmac,sys
key = base64.b64decode(sys.argv[1][6:])
mac = hmac.new(key, (sys.argv[2] + "." + sys.argv[3] + "." + sys.argv[4]).encode(), hashlib.sha256)
print("v1," + base64.b64encode(mac.digest()).decode())' "$secret" "$1" "$2" "$3"
}
post() { # PORT ID TS SIG BODY -> status
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$1/hooks" \
        -H 'Content-Type: application/json' -H "webhook-id: $2" -H "webhook-timestamp: $3" \
        -H "webhook-signature: $4" --data-binary "$5"
}
try_receiver() { # KIND
    kind=$1
    log=$scratch/$kind.log
    LD_LIBRARY_PATH="$p/lib" WEBHOOK_SECRET="$secret" "$scratch/$kind/receiver" 127.0.0.1:0 >"$log" 2>&1 &
    pid=$!
    port=""
    i=0
    while [ $i -lt 100 ] && [ -z "$port" ]; do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$log")
        [ -n "$port" ] || sleep 0.05
        i=$((i + 1))
    done
    if [ -z "$port" ]; then
        bad "$kind receiver did not start: $(cat "$log")"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=""
        return
    fi
    ts=$(date +%s)
    body='{"trigger":"trigger.airmeet.created","n":1}'
    sig=$(sign msg_install "$ts" "$body")
    got=$(post "$port" msg_install "$ts" "$sig" "$body")
    [ "$got" = 204 ] && ok "$kind receiver: a signed request gets 204" || bad "$kind receiver: signed request got $got"
    got=$(post "$port" msg_install "$ts" "$sig" '{"trigger":"trigger.airmeet.created","n":2}')
    [ "$got" = 401 ] && ok "$kind receiver: a tampered body gets 401" || bad "$kind receiver: tampered body got $got"
    old=$((ts - 600))
    got=$(post "$port" msg_install "$old" "$(sign msg_install "$old" "$body")" "$body")
    [ "$got" = 401 ] && ok "$kind receiver: a stale request gets 401" || bad "$kind receiver: stale request got $got"
    got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$port/hooks" -d '{}')
    [ "$got" = 401 ] && ok "$kind receiver: an unsigned request gets 401" || bad "$kind receiver: unsigned request got $got"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
    check "$kind receiver said why" grep -q 'the timestamp is too old' "$log"
}
try_receiver shared
try_receiver static
check "the example refuses a bad secret at start" sh -c \
    "WEBHOOK_SECRET=nope LD_LIBRARY_PATH='$p/lib' '$scratch/shared/receiver' 127.0.0.1:0; [ \$? -eq 2 ]"

# The systemd unit: it runs the installed binary, systemd accepts it, and
# airhook starts with the settings it gives (a state directory of its own,
# the admin token from a credential file).
unit=$root/deploy/systemd/airhook.service
check "the systemd unit runs $prefix/bin/airhook" grep -q "^ExecStart=$prefix/bin/airhook serve\$" "$unit"
if command -v systemd-analyze >/dev/null 2>&1; then
    sed -e "s|^ExecStart=$prefix/bin/airhook|ExecStart=$p/bin/airhook|" -e '/^Documentation=/d' \
        "$unit" >"$scratch/airhook.service"
    check "the systemd unit passes systemd-analyze verify" sh -c \
        "! systemd-analyze verify '$scratch/airhook.service' 2>&1 | grep ."
fi
mkdir -m 0700 "$scratch/state" "$scratch/credentials"
(umask 077 && head -c 32 /dev/urandom | base64 >"$scratch/credentials/admin-token")
db=$(sed -n 's|^Environment=AIRHOOK_DB=sqlite:/var/lib/airhook/||p' "$unit")
AIRHOOK_DB="sqlite:$scratch/state/$db" AIRHOOK_ADMIN_TOKEN_FILE="$scratch/credentials/admin-token" \
    AIRHOOK_LISTEN=127.0.0.1:0 "$p/bin/airhook" serve >"$scratch/serve.log" 2>&1 &
pid=$!
i=0
while [ $i -lt 100 ] && ! grep -q 'ready on' "$scratch/serve.log"; do
    sleep 0.1
    i=$((i + 1))
done
if grep -q 'ready on' "$scratch/serve.log"; then ok "airhook serve starts with the unit's settings"; else
    bad "airhook serve did not start with the unit's settings: $(tail -5 "$scratch/serve.log")"
fi
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=""

make -C "$root" --no-print-directory uninstall DESTDIR="$dest" PREFIX="$prefix" >"$scratch/uninstall.log" 2>&1 ||
    bad "make uninstall failed: $(cat "$scratch/uninstall.log")"
left=$(find "$dest" -type f -o -type l)
if [ -z "$left" ]; then ok "make uninstall leaves no file"; else bad "make uninstall left: $left"; fi

echo "install-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/bin/sh
# Installs the Debian packages airhook needs to build, test and run, and only
# those that are missing.  Safe to run again; does nothing when all are there.
set -eu
PKGS="build-essential cmake pkg-config clang clang-format libclang-rt-14-dev \
libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev \
libssl-dev libpq-dev libcmocka-dev postgresql-15 python3 python3-yaml python3-jsonschema \
curl wrk nginx"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing="$missing $p"
done
# Node.js and npm run the Standard Webhooks interop check and the contract
# linters (tests/contracts: Node.js 18.17 or newer); nothing at build or run time.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing

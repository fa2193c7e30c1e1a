#!/bin/sh
# SPDX-License-Identifier: MIT
# install-deps.sh: makes sure what airhook needs is there, installing only
# what is missing (safe to run again; does nothing when all is there).
#
# Usage: scripts/install-deps.sh [build|test]
#   build   what building and running need (make run, make install)
#   test    that, and what the tests and benchmarks need (make test)
#
# On Debian or Ubuntu (apt-get) the packages below are installed, with sudo
# when not root.  Elsewhere nothing is installed: what is missing is found
# with pkg-config and the PATH, and named, and the script exits 1 so that
# make stops with that list instead of failing in apt-get.  The lists are
# the README's ("What it needs").
set -eu
set_=${1:-build}
case $set_ in
build | test) ;;
*)
    echo "usage: install-deps.sh [build|test]" >&2
    exit 2
    ;;
esac

# Debian 12 packages: to build (the -dev packages bring the run-time libraries).
BUILD_PKGS="build-essential cmake pkg-config libmicrohttpd-dev libcurl4-openssl-dev \
libjansson-dev libsqlite3-dev libssl-dev libpq-dev"
# Only for the tests and benchmarks: sanitizers and fuzzers (clang), cmocka,
# a throwaway PostgreSQL, Python for the integration tests (with YAML and
# JSON Schema for the contract checks), curl, nginx and wrk, Node.js for
# the Standard Webhooks interop check and the contract linters, and Chromium
# (with a font) for the web console's browser tests (tests/browser), and Go
# to run the console's Go verification snippet.
TEST_PKGS="clang clang-format libclang-rt-14-dev libcmocka-dev postgresql-15 python3 python3-yaml \
python3-jsonschema curl wrk nginx groff-base chromium fonts-dejavu-core golang-go"

# Without apt: pkg-config modules and commands, with what to look for.
BUILD_MODULES="libmicrohttpd libcurl jansson sqlite3 openssl libpq"
BUILD_TOOLS="cc cmake pkg-config make"
TEST_MODULES="cmocka"
TEST_TOOLS="clang clang-format python3 curl node npm pg_ctl initdb nginx wrk chromium go"

without_apt() {
    modules=$BUILD_MODULES tools=$BUILD_TOOLS
    if [ "$set_" = test ]; then
        modules="$modules $TEST_MODULES" tools="$tools $TEST_TOOLS"
    fi
    missing=""
    for t in $tools; do
        command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
    done
    if command -v pkg-config >/dev/null 2>&1; then
        for m in $modules; do
            pkg-config --exists "$m" 2>/dev/null || missing="$missing $m(dev)"
        done
    else
        for m in $modules; do missing="$missing $m(dev)"; done
    fi
    [ -z "$missing" ] && exit 0
    cat >&2 <<MSG
install-deps: this machine has no apt-get, so nothing was installed.
Missing:$missing
Install these with your package manager (development packages: the
headers and the pkg-config files), then run make again:
  to build and run:  a C compiler, make, cmake, pkg-config, libmicrohttpd,
                     libcurl, jansson, SQLite 3, OpenSSL 3, libpq (PostgreSQL client)
MSG
    if [ "$set_" = test ]; then
        cat >&2 <<MSG
  for the tests:     clang (with compiler-rt: sanitizers, libFuzzer), clang-format,
                     cmocka, PostgreSQL 15 server (pg_ctl, initdb), Python 3, curl,
                     nginx, wrk, Node.js with npm, Chromium, Go
MSG
    fi
    echo "(README.md, \"What it needs\", has the Debian names.)" >&2
    exit 1
}

command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1 || without_apt

PKGS=$BUILD_PKGS
[ "$set_" = test ] && PKGS="$PKGS $TEST_PKGS"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
# Node.js and npm run the Standard Webhooks interop check and the contract
# linters (tests/contracts: Node.js 18.17 or newer); nothing at build or run time.
if [ "$set_" = test ]; then
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
fi
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "install-deps: missing:$missing; run as root (or install sudo): apt-get install$missing" >&2
        exit 1
    }
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing

# SPDX-License-Identifier: MIT
# Two commands matter: `make run` and `make test`.  Both install what is
# missing (scripts/install-deps.sh: `make run` what building and running
# need, `make test` what the tests need too), build, and go.  `make install`
# puts airhook, libairhook-verify and the man pages under PREFIX.
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 4
DB ?= sqlite:./airhook.db
LISTEN ?= 127.0.0.1:8080
ADMIN_TOKEN ?= dev-admin-token
# make run delivers to local receivers (airhook receive); production keeps the default.
ALLOW_NET ?= 127.0.0.0/8,::1/128

# Where `make install` puts things; DESTDIR (empty) is prepended to each path.
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
MANDIR ?= $(PREFIX)/share/man
# Which packages `deps` makes sure of: build (make run, make install) or test.
DEPS ?= build

.PHONY: all deps build build-test run test unit interop contracts openapi-json asyncapi-channels \
	browser console-screenshots \
	integration test-pg pg-pass fuzz-smoke fuzz bench clean format format-check check-layers \
	triggers-doc check-license install uninstall install-check

all: build

deps:
	@sh scripts/install-deps.sh $(DEPS)

# The project's own builds treat warnings as errors (AH_WERROR); a plain
# `cmake -S . -B b` does not.  The release tree compiles the unit tests only
# under `make test` (RELEASE_TESTS=ON below), so gcc -O2 checks them too
# while `make run` stays quick.
RELEASE_TESTS ?= OFF

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAH_TESTS=$(RELEASE_TESTS) \
	  -DAH_WERROR=ON >/dev/null
	@cmake --build build -j$(JOBS)

# The test build: clang, AddressSanitizer + UndefinedBehaviorSanitizer, and
# the libFuzzer targets.
build-test: DEPS = test
build-test: deps
	@CC=clang cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DAH_SANITIZE=ON -DAH_FUZZ=ON \
	  -DAH_WERROR=ON >/dev/null
	@cmake --build build-test -j$(JOBS)

run: build
	@echo "web console: http://$(LISTEN)/ -- sign in as the operator with the admin token $(ADMIN_TOKEN)"
	./build/airhook serve --demo --db $(DB) --listen $(LISTEN) --admin-token $(ADMIN_TOKEN) --allow-net $(ALLOW_NET)

unit: build-test
	cd build-test && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure

integration: build-test
	python3 tests/integration/run.py --binary build-test/airhook

# The web console in Debian's chromium, driven by playwright-core (npm, pinned in
# tests/browser/); each page's screenshots land in build-test/console-screenshots.
browser: build-test
	sh tests/browser/run.sh build-test/airhook build-test/console-screenshots

# After changing the console: run its browser tests and copy their screenshots to docs/console/.
console-screenshots: browser
	cp build-test/console-screenshots/*.png docs/console/

# Signatures checked by the Standard Webhooks reference verifier (npm).
interop: build-test
	sh tests/interop/run.sh build-test

# The contract documents (docs/openapi.yaml, docs/asyncapi.yaml): docs/openapi.json
# is the YAML, and both lint clean (Redocly CLI, the AsyncAPI parser; npm,
# pinned in tests/contracts/).  The integration suite checks the server's
# answers against docs/openapi.yaml (tests/integration/contract.py).
contracts: deps
	sh tests/contracts/lint.sh

# After editing docs/openapi.yaml: write docs/openapi.json, which the build compiles in.
openapi-json:
	python3 scripts/contracts.py openapi-json

# After changing data/triggers.json: rewrite docs/asyncapi.yaml's channels, operations and
# messages (one each per trigger; each trigger's payload schema is named in scripts/contracts.py).
asyncapi-channels:
	python3 scripts/contracts.py asyncapi-channels

fuzz-smoke: build-test
	sh tests/fuzz/run.sh build-test $(FUZZ_SECONDS)

fuzz: build-test
	sh tests/fuzz/run.sh build-test 300

# The C sources follow .clang-format; `make format` rewrites them to it.
FORMAT_FILES = $(wildcard src/*/*.[ch] include/airhook/*.h tests/unit/*.[ch] bench/*.c examples/*/*.c)

format: deps
	clang-format -i $(FORMAT_FILES)

format-check: deps
	@clang-format --dry-run -Werror $(FORMAT_FILES)
	@echo "format-check: $(words $(FORMAT_FILES)) files follow .clang-format"

# docs/triggers.md's catalog, sources and samples are generated from
# data/triggers.json (compiled into the binary); test_triggers fails until
# the file says what the data says.
triggers-doc: build
	sh scripts/triggers-doc.sh build/airhook docs/triggers.md

# Dependencies point down: common <- http, store <- delivery <- api <- cli.
# The script refuses an upward #include in src/ (its self-test proves it would).
check-layers:
	@sh scripts/check-layers.sh --self-test
	@sh scripts/check-layers.sh

# Every source file says its licence on its first lines (SPDX).
check-license:
	@sh scripts/check-license.sh

# The release tree installed under PREFIX (DESTDIR first, for packaging):
# bin/airhook, the shared and static libairhook-verify, its header and
# airhook-verify.pc, man pages made from the CLI's help, and LICENSE.
install: build
	@cmake -S . -B build -DCMAKE_INSTALL_PREFIX=$(PREFIX) -DCMAKE_INSTALL_LIBDIR=$(LIBDIR) \
	  -DCMAKE_INSTALL_MANDIR=$(MANDIR) >/dev/null
	@DESTDIR=$(DESTDIR) cmake --install build
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

# Removes what `make install` put there (the same PREFIX, LIBDIR, MANDIR and DESTDIR).
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/airhook
	rm -f $(DESTDIR)$(LIBDIR)/libairhook-verify.so $(DESTDIR)$(LIBDIR)/libairhook-verify.so.* \
	  $(DESTDIR)$(LIBDIR)/libairhook-verify.a $(DESTDIR)$(LIBDIR)/pkgconfig/airhook-verify.pc
	rm -f $(DESTDIR)$(PREFIX)/include/airhook/verify.h
	-rmdir $(DESTDIR)$(PREFIX)/include/airhook 2>/dev/null
	rm -f $(DESTDIR)$(MANDIR)/man1/airhook.1 $(DESTDIR)$(MANDIR)/man1/airhook-*.1
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/airhook

# Installs into a scratch DESTDIR, builds examples/receiver against the
# installed airhook-verify.pc, runs it against signed requests, uninstalls.
install-check: build
	sh tests/install/run.sh

# `make test` also builds the release tree (with bench/ and the unit tests)
# so it cannot rot.
test: RELEASE_TESTS = ON
test: DEPS = test
test: build build-test
	$(MAKE) --no-print-directory format-check
	$(MAKE) --no-print-directory check-layers
	$(MAKE) --no-print-directory check-license
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory interop
	$(MAKE) --no-print-directory install-check
	$(MAKE) --no-print-directory contracts
	$(MAKE) --no-print-directory integration
	$(MAKE) --no-print-directory browser
	$(MAKE) --no-print-directory test-pg
	$(MAKE) --no-print-directory fuzz-smoke

# The PostgreSQL pass: the store unit tests and the whole integration suite
# again, on a throwaway PostgreSQL 15 that scripts/pg-test.sh starts (or the
# one at AH_TEST_PG_DSN) and stops whatever happens.  In CI (CI=true)
# PostgreSQL must start; elsewhere, if it cannot, a loud warning says the
# pass was skipped.
test-pg: build-test
	@rc=0; sh scripts/pg-test.sh run $(MAKE) --no-print-directory pg-pass || rc=$$?; \
	if [ $$rc -eq 3 ]; then \
	  if [ "$$CI" = true ]; then \
	    echo "make test-pg: PostgreSQL could not be started; in CI that is a failure" >&2; \
	    exit 1; \
	  fi; \
	  printf '\n%s\n%s\n%s\n\n' "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" \
	    "!! WARNING: PostgreSQL could not be started: the PostgreSQL pass was SKIPPED" \
	    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2; \
	  exit 0; \
	fi; \
	exit $$rc

# Run by test-pg with AH_TEST_PG_DSN / AIRHOOK_TEST_PG_DSN set.
pg-pass:
	cd build-test && AH_TEST_STORE=postgres ASAN_OPTIONS=detect_leaks=1 \
	  ctest --output-on-failure -R '^test_store'
	AIRHOOK_TEST_DB=postgres python3 tests/integration/run.py --binary build-test/airhook

# Benchmarks against this machine's ceiling (bench/run.sh): prints the table
# and writes bench/RESULTS.md (and the soak's plot, bench/soak.svg).  About
# 16 minutes, the 5-minute soak included; QUICK=1 about 4.
bench: DEPS = test
bench: build
	@bash bench/run.sh $(if $(filter 1 yes true,$(QUICK)),--quick)

clean:
	rm -rf build build-test

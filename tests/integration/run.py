#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run airhook's black-box integration tests.

    python3 tests/integration/run.py --binary build-test/airhook [-k PATTERN] [-v]

Discovers tests/integration/test_*.py, runs them with unittest, prints each
failing test's traceback and, as the last line, `N passed, N failed`
(`, N skipped` when any were skipped).  Exits non-zero on any failure/error.

Every answer a test gets through harness.Server.request() is checked against
docs/openapi.yaml as it comes (contract.py); after the tests the problems are
printed and, if any, count as one more failure ("contract drift check").
AIRHOOK_CONTRACT_COVERAGE=1 also lists the operations no test got an answer
from.

The servers run on SQLite, or on PostgreSQL with AIRHOOK_TEST_DB=postgres and
AIRHOOK_TEST_PG_DSN (see harness.py); the backend is printed first and last.
"""

import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class CountingResult(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1


def _test_id(test):
    inner = getattr(test, "test_case", None)  # a failing subTest
    if inner is not None:
        return inner.id()
    return test.id() if hasattr(test, "id") else str(test)


def drift_check():
    """Prints what the answers the suite got say about docs/openapi.yaml; False on drift."""
    import contract
    c = contract.get()
    if c is None:
        print("\ncontract drift check: cannot load docs/openapi.json: %s" % contract.error())
        return False
    problems = c.report()
    print("\ncontract drift check: %d answers checked against docs/openapi.yaml, %d problem%s"
          % (c.checked, len(problems), "" if len(problems) == 1 else "s"))
    for line in problems:
        print("  " + line)
    if os.environ.get("AIRHOOK_CONTRACT_COVERAGE"):
        for op in c.coverage():
            print("  never answered: " + op)
    return not problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--binary", required=True, help="path to the airhook binary")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="only run tests whose id contains PATTERN (fnmatch "
                         "wildcards allowed; repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    ap.add_argument("--failfast", action="store_true")
    args = ap.parse_args(argv)

    binary = os.path.abspath(args.binary)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print("run.py: %s is not an executable file (build it: make build-test)" % binary)
        print("0 passed, 1 failed")
        return 2

    sys.dont_write_bytecode = True
    sys.path.insert(0, HERE)
    os.environ["AIRHOOK_TEST_BINARY"] = binary
    import harness
    harness.BINARY = binary
    try:
        backend = harness.backend()
    except RuntimeError as e:
        print("run.py: %s" % e)
        print("0 passed, 1 failed")
        return 2
    print("integration tests on %s" % backend)
    sys.stdout.flush()

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [p if any(c in p for c in "*?[") else "*%s*" % p
                                   for p in args.patterns]
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)

    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2 if args.verbose else 1,
                                     resultclass=CountingResult, failfast=args.failfast)
    t0 = time.monotonic()
    result = runner.run(suite)
    sys.stdout.flush()

    # A test with several failing subtests counts once.
    failing_ids = []
    if not drift_check():
        failing_ids.append("contract drift check (tests/integration/contract.py)")
    for test, _ in result.failures + result.errors:
        tid = _test_id(test)
        if tid not in failing_ids:
            failing_ids.append(tid)
    for test in result.unexpectedSuccesses:
        failing_ids.append(_test_id(test) + " (unexpected success)")
    failed = len(failing_ids)
    skipped = len(result.skipped)
    if result.skipped:
        print("\nskipped:")
        for test, reason in result.skipped:
            print("  %s: %s" % (test.id(), reason))
    if failed:
        print("\nfailing:")
        for tid in failing_ids:
            print("  " + tid)
    print("(%.1f s on %s)" % (time.monotonic() - t0, backend))
    line = "%d passed, %d failed" % (result.passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    sys.stdout.flush()
    return 1 if failed or result.testsRun == 0 and not args.patterns else 0


if __name__ == "__main__":
    sys.exit(main())

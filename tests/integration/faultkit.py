# SPDX-License-Identifier: MIT
"""Pieces of the fault tests (test_faults_*.py): a small filesystem of their
own, and a publisher that keeps publishing in the background.

A small filesystem is a 32 MB tmpfs mounted on a fresh directory, which needs
root (CI runs as root, and mounts there).  Where the environment truly
cannot mount (no root, no CAP_SYS_ADMIN, a container without mount rights)
the test is skipped with a loud message, in CI too: the issue allows that
much, and nothing else can stand in for a full filesystem.  Every mount is
unmounted at cleanup (lazily if still busy).
"""

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

from deliverykit import event_body


def loud(msg):
    bar = "!" * 78
    sys.stdout.write("\n%s\n!! %s\n%s\n" % (bar, msg, bar))
    sys.stdout.flush()


def small_filesystem(testcase, size="32m"):
    """A fresh directory with a tmpfs of `size` mounted on it (mode 0700);
    unmounted and removed at cleanup.  Skips (loudly) where mounting is not
    permitted."""
    d = tempfile.mkdtemp(prefix="airhook-smallfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", d],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        os.rmdir(d)
        why = ("cannot mount a %s tmpfs (needs root or CAP_SYS_ADMIN): %s"
               % (size, (r.stderr or r.stdout).strip()))
        loud("WARNING: the full-disk test was SKIPPED: " + why)
        raise unittest.SkipTest(why)

    def unmount():
        for args in (["umount", d], ["umount", "-l", d]):
            if subprocess.run(args, capture_output=True, timeout=30).returncode == 0:
                break
        shutil.rmtree(d, ignore_errors=True)
    testcase.addCleanup(unmount)
    return d


def fill(path, chunk=1 << 20):
    """Writes path until the filesystem is full (ENOSPC); returns the bytes written."""
    n = 0
    block = b"\0" * chunk
    with open(path, "wb", buffering=0) as f:
        while chunk >= 512:
            try:
                n += f.write(block[:chunk])
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                chunk //= 2  # fill the last bits too
    return n


class BackgroundPublisher:
    """Publishes events one after the other on one kept-alive connection,
    each with an idempotency key, until stopped (or `limit` is reached).
    Records every answer: acked {eventId}, statuses {status: count}."""

    def __init__(self, srv, tenant, limit=100000, data_size=64, pause=0.0):
        self.srv, self.tenant, self.limit, self.pause = srv, tenant, limit, pause
        self.data = {"pad": "p" * data_size}
        self.acked = set()
        self.statuses = {}
        self.bad = []  # answers that are neither 202 nor a 503 with Retry-After
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)

    def count(self, status):
        with self.lock:
            return self.statuses.get(status, 0)

    def _run(self):
        conn = None
        for i in range(self.limit):
            if self._stop.is_set():
                break
            body = event_body(self.tenant.community_id, data=self.data,
                              idempotency_key="bg-%s" % uuid.uuid4().hex)
            try:
                conn = conn or self.srv.connection(timeout=15)
                r = self.srv.request("POST", "/admin/v1/events", body=body, conn=conn,
                                     headers={"Authorization": "Bearer " + self.srv.admin_token,
                                              "Content-Type": "application/json"})
            except OSError:
                conn = None
                continue
            with self.lock:
                self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                if r.status == 202:
                    self.acked.add(r.json["eventId"])
                elif r.status != 503 or not r.header("Retry-After"):
                    self.bad.append(repr(r))
            if r.status != 202 or self.pause:
                time.sleep(self.pause or 0.02)
        if conn:
            conn.close()

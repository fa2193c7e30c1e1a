# SPDX-License-Identifier: MIT
"""Secrets at rest (docs/operations.md, "Secrets: what is secret, where it lives").

- Webhook signing secrets are encrypted in the database (AES-256-GCM under the
  key file's key): the whsec_ text is in no file the server writes, yet every
  delivery is signed with it, rotated secrets included.
- The key file: made 0600 at the first start with a loud note to back it up;
  refused when group or others may read it, when it is missing but the
  database holds encrypted secrets, or when it holds another key.
- Rotation: a new key first in the file, the old one after it; at start every
  secret is encrypted again under the new key, and then the old one can go.
- A database from before encryption (plain secrets) is encrypted at start.
- --admin-token-file: the token never appears on the command line (ps); both
  ways at once are refused.
- SQLite files are created 0600 (-wal and -shm too); a directory that every
  user may write to is refused.
"""

import json
import os
import re
import secrets
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import unittest

from deliverykit import DeliveryMixin, LOOPBACK, start_server
from harness import Server, ServerTestCase, _psql, PG_DSN, pg_dsn_for
from receiver import Receiver

ARGS = ("--allow-net", LOOPBACK, "--retry-schedule", "0,200ms", "--delivery-timeout", "2s")
KEY_RE = re.compile(r"^enc:v1:([0-9a-f]{8}):[A-Za-z0-9+/=]+$")


def raw_secrets(srv):
    """{webhook id: (secret, prev_secret)} as stored."""
    if srv.pg_db:
        out = subprocess.run(
            ["psql", pg_dsn_for(srv.pg_db), "-X", "-q", "-t", "-A", "-F", "\t", "-c",
             "SELECT id, secret, coalesce(prev_secret, '') FROM webhooks"],
            capture_output=True, text=True, timeout=30, check=True).stdout
        rows = [l.split("\t") for l in out.splitlines() if l.strip()]
        return {r[0]: (r[1], r[2]) for r in rows}
    db = sqlite3.connect("file:%s?mode=ro" % srv.db_path, uri=True, timeout=10)
    try:
        return {r[0]: (r[1], r[2] or "") for r in
                db.execute("SELECT id, secret, prev_secret FROM webhooks")}
    finally:
        db.close()


def key_file_text(*keys):
    return "# test keys\n" + "".join(k + "\n" for k in keys)


def write_private(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)


class SecretsTestCase(DeliveryMixin, ServerTestCase):
    """Each test starts its own servers."""

    @classmethod
    def setUpClass(cls):
        unittest.TestCase.setUpClass()
        cls.srv = None
        cls.rcv = Receiver().start()

    @classmethod
    def tearDownClass(cls):
        cls.rcv.stop()

    def tearDown(self):
        pass

    def start(self, args=ARGS, **kw):
        s = start_server(self, args, **kw)
        self.srv = s
        return s

    def restart(self, old, args=ARGS, expect_ok=True, **kw):
        """Stops old (keeping its workdir) and starts another on its database."""
        if old.alive():
            old.stop(remove=False)
        s = Server(args, admin_token=old.admin_token, workdir=old.workdir, **kw)
        if not expect_ok:
            try:
                s.start()
            except AssertionError:
                return s
            s.kill()
            self.fail("airhook started although it should have refused:\n" + s.stderr_text())
        s.start()
        self.addCleanup(lambda: s.kill() if s.alive() else s._close_files())
        self.srv = s
        return s

    def delivered_and_signed(self, tenant, hook, secret, n_signatures=1):
        j = self.publish(tenant, data={"n": secrets.token_hex(4)})
        rec = self.wait_received(1, event_id=j["eventId"], webhook=hook["id"])[0]
        self.assertSignedBy(rec, secret, n_signatures)

    def cleanup_dir(self, path):
        self.addCleanup(shutil.rmtree, path, True)


class SecretsAtRestTests(SecretsTestCase):

    def test_secrets_are_encrypted_in_the_database_and_still_sign(self):
        s = self.start()
        t = s.make_tenant()
        h = self.hook(t)
        secret = h["secret"]
        stored = raw_secrets(s)[h["id"]]
        self.assertRegex(stored[0], KEY_RE, "the secret is not stored encrypted")
        self.assertNotIn("whsec_", stored[0])
        self.delivered_and_signed(t, h, secret)

        # Rotation: both secrets encrypted, both signatures verify.
        r = s.admin("POST", "/webhooks/%s/rotate-secret" % h["id"])
        new = self.assertJson(r, 200)["secret"]
        stored = raw_secrets(s)[h["id"]]
        self.assertRegex(stored[0], KEY_RE)
        self.assertRegex(stored[1], KEY_RE)
        j = self.publish(t, data={"after": "rotation"})
        rec = self.wait_received(1, event_id=j["eventId"])[0]
        self.assertSignedBy(rec, new, 2)
        self.assertSignedBy(rec, secret, 2)

        if s.pg_db:
            return
        # No file the server writes holds the whsec_ text, of either secret.
        for suffix in ("", "-wal", "-shm"):
            path = s.db_path + suffix
            if not os.path.exists(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            for sec in (secret, new):
                self.assertNotIn(sec[len("whsec_"):].encode(), data,
                                 "a signing secret is in %s as plain text" % path)

    def test_key_file_is_made_once_with_a_note_and_checked(self):
        s = self.start()
        key = s.key_path()
        self.assertTrue(os.path.exists(key), "no key file at %s" % key)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.assertIn("BACK IT UP", s.stderr_text())
        self.assertIn(key, s.stderr_text())
        t = s.make_tenant()
        h = self.hook(t)
        key_id = KEY_RE.match(raw_secrets(s)[h["id"]][0]).group(1)
        self.assertIn(key_id, s.stderr_text(), "the note names the key")
        with open(key) as f:
            original = f.read()

        # A restart reads it and says nothing more.
        s2 = self.restart(s)
        self.assertNotIn("BACK IT UP", s2.stderr_text())
        self.delivered_and_signed(t, h, h["secret"])

        # Readable by others: refused, saying how to fix it.
        os.chmod(key, 0o644)
        s3 = self.restart(s2, expect_ok=False)
        self.assertIn("chmod 600", s3.startup_stderr)
        os.chmod(key, 0o600)

        # Another key: refused, naming the key the database needs.
        write_private(key, key_file_text(secrets.token_hex(32)))
        s4 = self.restart(s3, expect_ok=False)
        self.assertIn(key_id, s4.startup_stderr)

        # No key file at all: refused (not a new key that opens nothing).
        os.unlink(key)
        s5 = self.restart(s4, expect_ok=False)
        self.assertIn("restore it from its backup", s5.startup_stderr)
        self.assertFalse(os.path.exists(key), "a new key was made for a database that has one")

        # Restored from its backup: all is well again.
        write_private(key, original)
        s6 = self.restart(s5)
        self.delivered_and_signed(t, h, h["secret"])
        s6.stop(remove=False)

    def test_key_rotation(self):
        s = self.start()
        t = s.make_tenant()
        hooks = [self.hook(t, path="/ok?n=%d" % i) for i in range(3)]
        with open(s.key_path()) as f:
            old = [l.strip() for l in f if l.strip() and not l.startswith("#")][0]
        old_id = KEY_RE.match(raw_secrets(s)[hooks[0]["id"]][0]).group(1)

        # Step 1: the new key first, the old one after it; restart.
        new = secrets.token_hex(32)
        write_private(s.key_path(), key_file_text(new, old))
        s = self.restart(s)
        stored = raw_secrets(s)
        new_ids = {KEY_RE.match(stored[h["id"]][0]).group(1) for h in hooks}
        self.assertEqual(len(new_ids), 1)
        self.assertNotIn(old_id, new_ids, "the secrets were not encrypted again under the new key")
        logs = [r for r in s.log_records() if r.get("msg", "").startswith("encrypted webhook")]
        self.assertTrue(logs and logs[-1].get("count") == 3, logs)
        # Step 2: the old key goes.
        write_private(s.key_path(), key_file_text(new))
        s = self.restart(s)
        for h in hooks:
            self.delivered_and_signed(t, h, h["secret"])

    def test_plain_secrets_of_an_older_database_are_encrypted_at_start(self):
        s = self.start()
        t = s.make_tenant()
        h = self.hook(t)
        s.stop(remove=False)
        # What a database of an airhook from before encryption holds.
        plain = h["secret"]
        sql = ["UPDATE webhooks SET secret = '%s' WHERE id = '%s'" % (plain, h["id"]),
               "DELETE FROM settings WHERE key = 'secret_key_check'"]
        if s.pg_db:
            for q in sql:
                subprocess.run(["psql", pg_dsn_for(s.pg_db), "-X", "-q", "-c", q], check=True,
                               capture_output=True, timeout=30)
        else:
            db = sqlite3.connect(s.db_path, timeout=10)
            for q in sql:
                db.execute(q)
            db.commit()
            db.close()
        os.unlink(s.key_path())
        self.assertEqual(raw_secrets(s)[h["id"]][0], plain)
        s = self.restart(s)
        self.assertIn("BACK IT UP", s.stderr_text())
        self.assertRegex(raw_secrets(s)[h["id"]][0], KEY_RE)
        self.delivered_and_signed(t, h, plain)


    @unittest.skipIf(os.environ.get("AIRHOOK_TEST_DB", "sqlite") == "postgres",
                     "the SQLite backup of docs/operations.md: run in the SQLite pass")
    def test_backup_and_restore_as_documented(self):
        """docs/operations.md, "Backups and restores": an online backup of the
        database, the key file kept apart, both restored into a fresh place."""
        s = self.start()
        t = s.make_tenant()
        h = self.hook(t)
        self.delivered_and_signed(t, h, h["secret"])
        safe = tempfile.mkdtemp(prefix="airhook-backup-")
        self.cleanup_dir(safe)
        old = os.umask(0o077)
        try:
            backup = os.path.join(safe, "airhook-backup.db")
            if shutil.which("sqlite3"):
                subprocess.run(["sqlite3", s.db_path, ".backup %s" % backup], check=True,
                               capture_output=True, timeout=60)
            else:  # the same online backup API, from Python
                src, dst = sqlite3.connect(s.db_path), sqlite3.connect(backup)
                src.backup(dst)
                src.close()
                dst.close()
            shutil.copy(s.key_path(), os.path.join(safe, "key"))
        finally:
            os.umask(old)
        s.stop()  # and its directory is gone

        fresh = tempfile.mkdtemp(prefix="airhook-restored-")
        self.cleanup_dir(fresh)
        r = Server(ARGS, admin_token=s.admin_token, workdir=fresh)
        shutil.copy(backup, r.db_path)
        shutil.copy(os.path.join(safe, "key"), r.key_path())
        r.start()
        self.addCleanup(lambda: r.kill() if r.alive() else r._close_files())
        self.srv = r
        self.delivered_and_signed(t, h, h["secret"])


class AdminTokenFileTests(SecretsTestCase):

    def test_admin_token_file(self):
        d = self.start().workdir  # any private directory will do
        token = "adm_" + secrets.token_hex(16)
        path = os.path.join(d, "admin-token")
        write_private(path, token + "\n")
        s = start_server(self, ARGS + ("--admin-token-file", path), admin_token=None)
        s.admin_token = token
        self.assertJson(s.admin("POST", "/communities", {"name": "from a file"}), 201)
        self.assertEqual(s.admin("GET", "/communities", token="wrong").status, 401)
        with open("/proc/%d/cmdline" % s.proc.pid, "rb") as f:
            self.assertNotIn(token.encode(), f.read(), "the token is on the command line")
        self.assertNotIn(token, "\n".join(s.stdout_snapshot()), "the token was printed")

    def test_admin_token_file_refusals(self):
        d = self.start().workdir
        path = os.path.join(d, "admin-token")
        write_private(path, "adm_x\n", mode=0o644)
        for args, needle in (((), "chmod 600"),
                             (("--admin-token", "adm_y"), "not both")):
            s = Server(ARGS + ("--admin-token-file", path) + args, admin_token=None)
            self.cleanup_dir(s.workdir)
            with self.assertRaises(AssertionError):
                s.start()
            self.assertIn(needle, s.startup_stderr)
            self.assertNotIn(b"adm_x", open("/proc/self/cmdline", "rb").read())


@unittest.skipIf(os.environ.get("AIRHOOK_TEST_DB", "sqlite") == "postgres",
                 "SQLite's files: run in the SQLite pass")
class SqliteFileModeTests(SecretsTestCase):

    def test_database_files_are_private(self):
        old = os.umask(0o022)  # the usual umask, which would make them 0644
        try:
            s = self.start()
        finally:
            os.umask(old)
        t = s.make_tenant()
        self.hook(t)
        for suffix in ("", "-wal", "-shm", ".key"):
            path = s.db_path + suffix
            self.assertTrue(os.path.exists(path), path)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode) & 0o077, 0,
                             "%s is open to group or others: %o" % (
                                 path, stat.S_IMODE(os.stat(path).st_mode)))

    def test_existing_files_are_made_private(self):
        s = self.start()
        s.stop(remove=False)
        os.chmod(s.db_path, 0o644)
        s = self.restart(s)
        self.assertEqual(stat.S_IMODE(os.stat(s.db_path).st_mode), 0o600)
        self.assertIn("was open to", s.stderr_text())

    def test_a_directory_anyone_may_write_is_refused(self):
        s = self.start()
        os.chmod(s.workdir, 0o777)
        s2 = self.restart(s, expect_ok=False)
        self.assertIn("writable by every user", s2.startup_stderr)
        os.chmod(s.workdir, 0o700)

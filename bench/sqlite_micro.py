#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What airhook's SQLite work costs per event and per delivery, without HTTP.

Replays the statements of src/store/store_sqlite.c (copied below: keep them
in step) on airhook's own schema, in one thread, with the store's settings
(WAL, synchronous=NORMAL, 16 MiB cache, checkpoint every 4000 pages), and
reports per event / per delivery the CPU time of this process (user + system,
so other load on the machine matters less than for wall time) and the bytes
written (wchar: the WAL frames, 4 KiB pages plus headers).

It compares what the profiles of bench/run.sh point at:
  - batch: events per transaction (1 = today; N = a group commit),
  - ids:   v4 (random, today) or v7 (time-ordered UUIDs, still UUID-shaped),
  - slim:  deliveries_queue as a partial index over pending rows and no
           deliveries_age; noatt: no attempts row for a first-try success.

  python3 bench/sqlite_micro.py [--airhook build/airhook] [--events N] [--variants]
  python3 bench/sqlite_micro.py --representation [--events N]

--representation compares today's representation (a delivery row per
webhook at publish, claimed by a read, recorded by an UPDATE and a
multi-row attempt INSERT; migration 7's schema) with the event-stream one
issue 11 proposes (the event stored once; each webhook's position in the
stream; a delivery row, its first attempt inline, written only when the
attempt ends), both with group commit (32 events per publish transaction,
512 results per record transaction) as the server batches them.

The schema comes from a throw-away `airhook serve` (its migrations).  Python's
sqlite3 module links the same libsqlite3; its own overhead (a few µs per
statement) is in the figures, so real costs in C are somewhat lower.
Not part of `make bench`: a tool for judging store changes.
"""
import argparse
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
import uuid

TRIG = "trigger.airmeet.registrant.added"
DATA = ('{"n":0,"triggerMetaInfoId":"trigger.airmeet.registrant.added",'
        '"airmeetId":"3f2b8c1e-7a4d-4e9b-9c21-5d6e8f0a1b2c","airmeetName":"Product-Led Growth Summit 2020",'
        '"firstName":"Maya","lastName":"Lindqvist","name":"Maya Lindqvist","email":"maya.lindqvist@example.com",'
        '"city":"Stockholm","country":"Sweden","designation":"Growth Marketing Manager",'
        '"organization":"Northwind Analytics","phoneNumber":"+1-202-555-0143",'
        '"registrationTime":"2020-08-04T06:38:51.106+00:00",'
        '"registrationLink":"https://www.airmeet.com/e/3f2b8c1e-7a4d-4e9b-9c21-5d6e8f0a1b2c",'
        '"entryLink":"https://www.airmeet.com/e/3f2b8c1e-7a4d-4e9b-9c21-5d6e8f0a1b2c?t=9c4e7a2b-1d3f-4e5a-8b6c-0d2e4f6a8b9c",'
        '"utmSource":"newsletter","utmMedium":"email","utmCampaign":"plg-summit-2020",'
        '"utmTerm":"product led growth","utmContent":"hero-button"}')

# ---- store_sqlite.c's statements ----
EVENT_INSERT = ("INSERT INTO events (id, community_id, trigger, airmeet_id, session_id, idempotency_key,"
                " data, created_at) VALUES (?1, ?2, ?3, ?4, NULL, NULL, ?5, ?6)")
EVENT_FANOUT = ("INSERT INTO deliveries (id, event_id, webhook_id, status, attempts, next_attempt_at,"
                " lease_until, created_at, updated_at)"
                " SELECT ah_uuid(), ?1, w.id, 'pending', 0, ?2, 0, ?2, ?2"
                " FROM webhooks w INDEXED BY webhooks_match"
                " WHERE w.community_id = ?3 AND w.trigger = ?4 AND w.is_active = 1"
                " AND w.deregistered_at = 0 AND (w.airmeet_id IS NULL OR w.airmeet_id = ?5)"
                " AND (w.session_id IS NULL OR w.session_id = ?6) RETURNING webhook_id")
WEBHOOK_LIVE = "SELECT is_active = 1 AND deregistered_at = 0 FROM webhooks WHERE id = ?1"
CLAIM = ("UPDATE deliveries SET lease_until = ?1 WHERE id IN ("
         "SELECT id FROM deliveries WHERE status = 'pending' AND webhook_id = ?2"
         " AND next_attempt_at <= ?3 AND lease_until < ?3 ORDER BY next_attempt_at LIMIT ?4)"
         " RETURNING id, event_id, attempts, next_attempt_at")
NEXT_DUE = ("SELECT next_attempt_at FROM deliveries WHERE status = 'pending' AND webhook_id = ?1"
            " AND lease_until < ?2 ORDER BY next_attempt_at LIMIT 1")
EVENT_BODY = "SELECT trigger, data FROM events WHERE id = ?1"
DELIVERY_RESULT = ("UPDATE deliveries SET attempts = ?2, last_status_code = ?3, last_error = ?4,"
                   " updated_at = ?5, lease_until = 0,"
                   " next_attempt_at = CASE WHEN status = 'pending' AND ?6 = 'pending'"
                   " THEN ?7 ELSE next_attempt_at END,"
                   " status = CASE WHEN status = 'pending' THEN ?6 ELSE status END"
                   " WHERE id = ?1 RETURNING webhook_id")
ATTEMPT_INSERT = ("INSERT INTO attempts (id, delivery_id, attempt_no, started_at, duration_ms, status_code,"
                  " error, response_head) VALUES (ah_uuid(), ?1, ?2, ?3, ?4, ?5, ?6, ?7)")
WEBHOOK_SUCCEEDED = "UPDATE webhooks SET failing_since = 0 WHERE id = ?1 AND failing_since <> 0"
PRAGMAS = ("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384;"
           " PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 4000;")


def airhook_schema(binary):
    """The schema airhook's migrations create, from a throw-away server."""
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "schema.db")
        p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + db,
                              "--admin-token", "micro", "--log-level", "error"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            deadline = time.time() + 15
            while time.time() < deadline:
                line = p.stdout.readline()
                if "ready on" in line or not line:
                    break
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=20)
        c = sqlite3.connect(db)
        sql = [r[0] for r in c.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"
                                       " AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
        c.close()
    return ";\n".join(sql) + ";"


def uuid_v4():
    return str(uuid.uuid4())


def uuid_v7():
    b = bytearray(os.urandom(16))
    b[0:6] = int(time.time() * 1000).to_bytes(6, "big")
    b[6] = (b[6] & 0x0F) | 0x70
    b[8] = (b[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(b)))


def wchar():
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def fresh_db(path):
    """A new database file at path with the store's settings (the schema not yet made)."""
    for f in (path, path + "-wal", path + "-shm"):
        if os.path.exists(f):
            os.remove(f)
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode = WAL")
    c.executescript(PRAGMAS)
    return c


def seed(c, gen, fanout):
    """A community, an airmeet and fanout webhooks on TRIG; their ids."""
    now = int(time.time() * 1000)
    com, am = gen(), gen()
    c.execute("INSERT INTO communities (id, name, created_at) VALUES (?, 'c', ?)", (com, now))
    c.execute("INSERT INTO airmeets (id, community_id, name, created_at) VALUES (?, ?, 'a', ?)", (am, com, now))
    hooks = []
    for i in range(fanout):
        h = gen()
        hooks.append(h)
        c.execute("INSERT INTO webhooks (id, community_id, trigger, name, url, platform_name, airmeet_id,"
                  " is_active, meta_data, created_at, updated_at, created_by, secret)"
                  " VALUES (?, ?, ?, 'n', ?, 'p', ?, 1, '', ?, ?, 'b', 's')",
                  (h, com, TRIG, f"http://127.0.0.1:9/h/{i}", am, now, now))
    return com, am, hooks


def run(schema, path, fanout, batch, ids, n_events, deliver, variant=""):
    c = fresh_db(path)
    if "slim" in variant:
        schema = re.sub(r"CREATE INDEX deliveries_queue ON deliveries\s*\(status, webhook_id, next_attempt_at\)",
                        "CREATE INDEX deliveries_queue ON deliveries(webhook_id, next_attempt_at)"
                        " WHERE status = 'pending'", schema)
        schema = re.sub(r"CREATE INDEX deliveries_age ON deliveries\s*\(status, created_at\)", "SELECT 1", schema)
    c.executescript(schema)
    gen = uuid_v7 if ids == "v7" else uuid_v4
    c.create_function("ah_uuid", 0, gen)
    com, am, hooks = seed(c, gen, fanout)
    w0, t0, done = wchar(), time.process_time(), 0
    while done < n_events:
        c.execute("BEGIN IMMEDIATE")
        for _ in range(min(batch, n_events - done)):
            ev, t = gen(), int(time.time() * 1000)
            c.execute(EVENT_INSERT, (ev, com, TRIG, am, DATA, t))
            c.execute(EVENT_FANOUT, (ev, t, com, TRIG, am, None)).fetchall()
            done += 1
        c.execute("COMMIT")
    res = {"publish µs/event": 1e6 * (time.process_time() - t0) / n_events,
           "publish KiB/event": (wchar() - w0) / 1024 / n_events}
    if deliver:
        total, done, pending = n_events * fanout, 0, []
        w0, t0 = wchar(), time.process_time()
        while done < total:
            claimed = 0
            for h in hooks:  # serve_hook: one claim transaction per webhook, 16 at most
                t = int(time.time() * 1000) + 10
                c.execute("BEGIN IMMEDIATE")
                c.execute(WEBHOOK_LIVE, (h,)).fetchall()
                rows = c.execute(CLAIM, (t + 60000, h, t, 16)).fetchall()
                c.execute(NEXT_DUE, (h, t)).fetchall()
                c.execute("COMMIT")
                c.execute("BEGIN")  # load_bodies, in a read transaction
                for ev in sorted({r[1] for r in rows}):
                    c.execute(EVENT_BODY, (ev,)).fetchall()
                c.execute("COMMIT")
                pending += [(r[0], h) for r in rows]
                claimed += len(rows)
            while pending:  # delivery_record: one transaction per batch of results
                chunk, pending = pending[:512], pending[512:]
                t = int(time.time() * 1000)
                c.execute("BEGIN IMMEDIATE")
                for d, h in chunk:
                    c.execute(DELIVERY_RESULT, (d, 1, 200, None, t, "succeeded", 0)).fetchall()
                    if "noatt" not in variant:
                        c.execute(ATTEMPT_INSERT, (d, 1, t, 1, 200, None, '{"ok":true}'))
                    c.execute(WEBHOOK_SUCCEEDED, (h,))
                c.execute("COMMIT")
                done += len(chunk)
            if not claimed:
                break
        res["claim+record µs/delivery"] = 1e6 * (time.process_time() - t0) / max(done, 1)
        res["claim+record KiB/delivery"] = (wchar() - w0) / 1024 / max(done, 1)
    c.close()
    return res


# ---- today's statements (migration 7) and the event-stream alternative ----
CLAIM_READ = ("SELECT id, event_id, attempts, next_attempt_at FROM deliveries"
              " WHERE status = 'pending' AND webhook_id = ?1 ORDER BY next_attempt_at")
ATT_ROW = "(?,?,?,?,?,?,?)"
ATTEMPTS_32 = ("INSERT INTO attempts (delivery_id, attempt_no, started_at, duration_ms, status_code, error,"
               " response_head) VALUES " + ",".join([ATT_ROW] * 32))
STREAM_SCHEMA = ("ALTER TABLE webhooks ADD COLUMN position INTEGER NOT NULL DEFAULT 0;"
                 "ALTER TABLE deliveries ADD COLUMN first_attempt TEXT;"
                 "CREATE INDEX events_stream ON events(community_id, trigger);")
STREAM_OWED = ("SELECT e.rowid, e.id FROM events e INDEXED BY events_stream"
               " WHERE e.community_id = ?1 AND e.trigger = ?2 AND e.rowid > ?3"
               " AND (?4 IS NULL OR e.airmeet_id = ?4) ORDER BY e.rowid LIMIT ?5")
STREAM_DONE_ROW = "(?,?,?,'succeeded',1,0,0,?,?,200,NULL,?)"
STREAM_DONE_32 = ("INSERT INTO deliveries (id, event_id, webhook_id, status, attempts, next_attempt_at,"
                  " lease_until, created_at, updated_at, last_status_code, last_error, first_attempt)"
                  " VALUES " + ",".join([STREAM_DONE_ROW] * 32))
INLINE_RESULT = DELIVERY_RESULT.replace("lease_until = 0,", "lease_until = 0, first_attempt = ?8,")
STREAM_POSITION = "UPDATE webhooks SET position = ?2 WHERE id = ?1 AND position < ?2"


def run_repr(schema, path, representation, fanout, n_events):
    """Publish n_events (fan-out `fanout`) and deliver them all, first try successful."""
    c = fresh_db(path)
    c.executescript(schema)
    stream = representation == "stream"
    inline = representation == "inline"
    if stream or inline:
        c.executescript(STREAM_SCHEMA)
    c.create_function("ah_uuid", 0, uuid_v7)
    com, am, hooks = seed(c, uuid_v7, fanout)
    position = {h: 0 for h in hooks}
    w0, t0, published = wchar(), time.process_time(), 0
    total, delivered = n_events * fanout, 0
    head = '{"content-type":"text/plain"}'
    # Interleave as the server does: a publish batch, then the dispatcher's turns over what is owed.
    while delivered < total:
        if published < n_events:
            c.execute("BEGIN IMMEDIATE")
            for _ in range(min(32, n_events - published)):
                ev, t = uuid_v7(), int(time.time() * 1000)
                c.execute(EVENT_INSERT, (ev, com, TRIG, am, DATA, t))
                if not stream:
                    c.execute(EVENT_FANOUT, (ev, t, com, TRIG, am, None)).fetchall()
                published += 1
            c.execute("COMMIT")
        batch = []  # (webhook, event rowid, event id, delivery id)
        c.execute("BEGIN")  # the claim turn: a read transaction, bodies included
        for h in hooks:
            c.execute(WEBHOOK_LIVE, (h,)).fetchall()
            if stream:
                c.execute(CLAIM_READ, (h,)).fetchall()  # retries still have rows
                rows = c.execute(STREAM_OWED, (com, TRIG, position[h], am, 64)).fetchall()
                batch += [(h, r[0], r[1], None) for r in rows]
            else:
                rows = c.execute(CLAIM_READ, (h,)).fetchall()[:64]
                batch += [(h, 0, r[1], r[0]) for r in rows]
            for ev in sorted({b[2] for b in batch if b[0] == h}):
                c.execute(EVENT_BODY, (ev,)).fetchall()
        c.execute("COMMIT")
        if not batch:
            continue
        t = int(time.time() * 1000)
        c.execute("BEGIN IMMEDIATE")  # the record turn
        for i in range(0, len(batch), 32):
            chunk = batch[i:i + 32]
            if stream:
                params = []
                for h, _, ev, _ in chunk:
                    params += [uuid_v7(), ev, h, t, t, f'[1,{t},1,200,null,{head}]']
                if len(chunk) == 32:
                    c.execute(STREAM_DONE_32, params)
                else:
                    for j in range(len(chunk)):
                        c.execute(STREAM_DONE_32.split(" VALUES ")[0] + " VALUES " + STREAM_DONE_ROW,
                                  params[6 * j:6 * j + 6])
            else:
                params = []
                for h, _, _, d in chunk:
                    if inline:
                        c.execute(INLINE_RESULT, (d, 1, 200, None, t, "succeeded", 0,
                                                  f'[1,{t},1,200,null,{head}]')).fetchall()
                        continue
                    c.execute(DELIVERY_RESULT, (d, 1, 200, None, t, "succeeded", 0)).fetchall()
                    params += [d, 1, t, 1, 200, None, head]
                if inline:
                    pass
                elif len(chunk) == 32:
                    c.execute(ATTEMPTS_32, params)
                else:
                    for j in range(len(chunk)):
                        c.execute(ATTEMPT_INSERT.replace("ah_uuid(), ", "").replace("id, delivery_id", "delivery_id")
                                  .replace("?1, ?2, ?3, ?4, ?5, ?6, ?7", "?,?,?,?,?,?,?"), params[7 * j:7 * j + 7])
        for h in hooks:
            mine = [b[1] for b in batch if b[0] == h]
            if mine:
                c.execute(WEBHOOK_SUCCEEDED, (h,))
                if stream:
                    position[h] = max(mine)
                    c.execute(STREAM_POSITION, (h, position[h]))
        c.execute("COMMIT")
        delivered += len(batch)
    res = {"store µs/delivery": 1e6 * (time.process_time() - t0) / total,
           "KiB written/delivery": (wchar() - w0) / 1024 / total}
    res["file KiB/delivery"] = sum(os.path.getsize(f) for f in (path, path + "-wal")
                                   if os.path.exists(f)) / 1024 / total
    c.close()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--airhook", default=os.path.join(os.path.dirname(__file__), "..", "build", "airhook"))
    ap.add_argument("--events", type=int, default=10000, help="events per fan-out-1 case (fan-out 10: a fifth)")
    ap.add_argument("--variants", action="store_true", help="the schema variants (slim, noatt) instead")
    ap.add_argument("--representation", action="store_true",
                    help="today's delivery rows against the event-stream representation")
    a = ap.parse_args()
    schema = airhook_schema(a.airhook)
    if a.representation:
        with tempfile.TemporaryDirectory() as d:
            for fanout in (10, 1):
                n = a.events if fanout == 1 else a.events // 5
                for rep in ("rows", "inline", "stream", "rows", "inline", "stream"):
                    r = run_repr(schema, os.path.join(d, "micro.db"), rep, fanout, n)
                    print(f"fan-out {fanout:2d}, {rep:6s}: " + ", ".join(f"{k} {v:.1f}" for k, v in r.items()),
                          flush=True)
        return
    cases = [(1, 1, "v4", ""), (1, 1, "v7", ""), (1, 8, "v4", ""), (1, 32, "v4", ""), (1, 32, "v7", ""),
             (10, 1, "v4", ""), (10, 1, "v7", ""), (10, 8, "v4", ""), (10, 32, "v4", ""), (10, 32, "v7", "")]
    if a.variants:
        cases = [(10, 1, "v4", ""), (10, 1, "v7", ""), (10, 1, "v7", "noatt"), (10, 1, "v7", "slim"),
                 (10, 1, "v7", "slim,noatt"), (10, 32, "v7", "slim")]
    with tempfile.TemporaryDirectory() as d:
        for fanout, batch, ids, variant in cases:
            n = a.events if fanout == 1 else a.events // 5
            r = run(schema, os.path.join(d, "micro.db"), fanout, batch, ids, n, batch == 1, variant)
            print(f"fan-out {fanout:2d}, {batch:2d} events/tx, ids {ids} {variant:10s}: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in r.items()), flush=True)


if __name__ == "__main__":
    main()

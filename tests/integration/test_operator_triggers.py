# SPDX-License-Identifier: MIT
"""Operator-defined triggers (docs/triggers.md, "Operator-defined triggers";
docs/api.md, "Triggers"): the admin API and the CLI add, change, retire and
restore them, hide and show built-in ones; registration, sample-payload and
event publishing follow the catalog at once; an event's data is checked
against the trigger's JSON Schema (the subset schema.h documents), and a
schema outside that subset is refused when it is given."""

import json
import subprocess
import time
import uuid

from deliverykit import DeliveryTestCase, start_server
from harness import BINARY, DB_BACKEND, hook_url

# How long another process may take to see a change (test_list_cache.py says why).
OTHER_PROCESS_S = 0.0 if DB_BACKEND == "sqlite" else 0.1

SCHEMA = {
    "type": "object",
    "required": ["ticketId", "buyer"],
    "properties": {
        "ticketId": {"type": "string", "minLength": 3},
        "price": {"type": "number", "minimum": 0},
        "buyer": {
            "type": "object",
            "required": ["email"],
            "properties": {"email": {"type": "string"}},
        },
        "tags": {"type": "array", "items": {"enum": ["vip", "early"]}},
    },
    "additionalProperties": False,
}
SAMPLE = {"ticketId": "T-1001", "price": 49.5, "buyer": {"email": "ada@example.com"},
          "tags": ["vip"]}


def new_id(prefix="trigger.ticket"):
    return "%s.%s" % (prefix, uuid.uuid4().hex[:10])


class OperatorTriggerTests(DeliveryTestCase):

    def setUp(self):
        self.t = self.srv.make_tenant()

    def add(self, tid=None, expect=201, **fields):
        body = {"id": new_id() if tid is None else tid, "description": "A ticket is sold.",
                "samplePayload": SAMPLE}
        body.update(fields)
        r = self.srv.admin("POST", "/triggers", body)
        if expect == 201:
            return self.assertJson(r, 201)
        self.assertAdminError(r, expect)
        return r.json

    def sample_payload(self, tid):
        return self.srv.public("GET", "/platform-integration/v1/sample-payload",
                               headers=self.t.key_headers(), query={"triggerMetaInfoId": tid})

    def test_add_register_publish_deliver(self):
        tid = new_id()
        j = self.add(tid, schema=SCHEMA, airmeetId="optional", sessionId="none")
        self.assertEqual((j["id"], j["builtin"], j["retired"]), (tid, False, False))
        self.assertEqual((j["airmeetId"], j["sessionId"]), ("optional", "none"))
        self.assertEqual(j["samplePayload"], SAMPLE)
        self.assertEqual(j["schema"], SCHEMA)
        self.assertTimestamp(j["createdAt"])
        # The catalog lists it after the built-in ones, and GET shows the same.
        listed = self.assertJson(self.srv.admin("GET", "/triggers"), 200)["triggers"]
        ids = [x["id"] for x in listed]
        self.assertIn("trigger.airmeet.created", ids)
        self.assertEqual(ids[-1] if ids[-1] == tid else tid, tid)
        self.assertEqual(self.assertJson(self.srv.admin("GET", "/triggers/" + tid), 200), j)
        # The public API serves its sample and takes registrations for it at once.
        r = self.sample_payload(tid)
        self.assertEqual(self.assertJson(r, 200)["payload"], SAMPLE)
        hook = self.hook(self.t, trigger=tid)
        self.hook(self.t, trigger=tid, airmeet_id=self.t.airmeet_id)
        r = self.t.register(tid, airmeet_id=self.t.airmeet_id, session_id=self.t.session_id,
                            expect=400)
        self.assertIn("does not take a sessionId", r.json["message"])
        # An event whose data satisfies the schema is delivered as sent.
        data = {"ticketId": "T-2002", "buyer": {"email": "bo@example.com"}, "price": 10}
        ev = self.publish(self.t, trigger=tid, data=data, airmeet_id=self.t.airmeet_id)
        self.assertEqual(ev["deliveries"], 2)
        got = self.wait_received(1, event_id=ev["eventId"], webhook=hook["id"])
        self.assertEqual(json.loads(got[0].body), data)

    def test_schema_refuses_bad_data_with_the_path(self):
        tid = new_id()
        self.add(tid, schema=SCHEMA)
        cases = [
            ({"buyer": {"email": "x@example.com"}}, "/ (the root)", "'ticketId' is missing"),
            ({"ticketId": "T-1", "buyer": {"email": 7}}, "/buyer/email", "expected a string"),
            ({"ticketId": "T", "buyer": {"email": "e"}}, "/ticketId", "minLength 3"),
            ({"ticketId": "T-1", "buyer": {"email": "e"}, "price": -1}, "/price", "minimum"),
            ({"ticketId": "T-1", "buyer": {"email": "e"}, "tags": ["vip", "gold"]}, "/tags/1",
             "enum"),
            ({"ticketId": "T-1", "buyer": {"email": "e"}, "colour": "red"}, "/colour",
             "additionalProperties"),
        ]
        for data, path, what in cases:
            with self.subTest(data=data):
                r = self.publish(self.t, trigger=tid, data=data, expect=None)
                self.assertAdminError(r, 400)
                msg = r.json["message"]
                self.assertIn("field 'data' does not match the schema of " + tid, msg)
                self.assertIn("at %s:" % path, msg)
                self.assertIn(what, msg)

    def test_bad_definitions_are_refused(self):
        tid = new_id()
        cases = [
            ({"id": ""}, "field 'id' is required"),
            ({"id": "has space"}, "field 'id' is required"),
            ({"id": "x" * 64}, "too long"),
            ({"description": ""}, "'description'"),
            ({"samplePayload": None}, "samplePayload"),
            ({"samplePayload": [1]}, "'samplePayload' must be a JSON object"),
            ({"airmeetId": "sometimes"}, "field 'airmeetId' must be"),
            ({"airmeetId": "none", "sessionId": "optional"}, "sessionId needs airmeetId"),
            ({"schema": {"type": "string", "format": "email"}},
             "unsupported JSON Schema keyword 'format' at / (the root)"),
            ({"schema": {"properties": {"email": {"pattern": "@"}}}},
             "unsupported JSON Schema keyword 'pattern' at /properties/email"),
            ({"schema": {"$ref": "#/$defs/x"}}, "keyword '$ref'"),
            ({"schema": {"type": "text"}}, "'type' names no JSON type"),
            ({"schema": {"minLength": -1}}, "'minLength' must be a whole number"),
            ({"schema": "string"}, "field 'schema' must be a JSON object"),
            ({"schema": {"required": ["missing"]}},
             "'samplePayload' does not satisfy the schema at / (the root)"),
            ({"retired": True}, "'retired' is for PATCH"),
            ({"colour": "red"}, "unknown field 'colour'"),
        ]
        for extra, what in cases:
            with self.subTest(body=extra):
                fields = dict(extra)
                self.add(fields.pop("id", tid), expect=400, **fields)
                r = self.srv.admin("POST", "/triggers",
                                   dict({"id": tid, "description": "d", "samplePayload": SAMPLE},
                                        **extra))
                self.assertIn(what, self.assertJson(r, 400)["message"])
        # Nothing of it was stored.
        self.assertAdminError(self.srv.admin("GET", "/triggers/" + tid), 404)
        # Taken ids: a built-in one, and an operator's.
        self.assertIn("is a built-in trigger",
                      self.add("trigger.airmeet.created", expect=409)["message"])
        self.add(tid)
        self.assertIn("already exists", self.add(tid, expect=409)["message"])

    def test_update_retire_restore(self):
        tid = new_id()
        self.add(tid)
        hook = self.hook(self.t, trigger=tid)
        j = self.assertJson(self.srv.admin("PATCH", "/triggers/" + tid,
                                           {"description": "A ticket is refunded.",
                                            "schema": {"type": "object",
                                                       "required": ["ticketId"]}}), 200)
        self.assertEqual(j["description"], "A ticket is refunded.")
        self.assertEqual(j["schema"], {"type": "object", "required": ["ticketId"]})
        r = self.publish(self.t, trigger=tid, data={"refund": True}, expect=None)
        self.assertIn("'ticketId' is missing", self.assertJson(r, 400)["message"])
        j = self.assertJson(self.srv.admin("PATCH", "/triggers/" + tid, {"schema": None}), 200)
        self.assertIsNone(j["schema"])
        self.publish(self.t, trigger=tid, data={"refund": True})
        # Bad changes.
        for body, what in (({"id": "other"}, "cannot change"),
                           ({"hidden": True}, "is for built-in triggers"),
                           ({"retired": "yes"}, "'retired' must be true or false"),
                           ({"schema": {"if": {}}}, "keyword 'if'")):
            with self.subTest(body=body):
                r = self.srv.admin("PATCH", "/triggers/" + tid, body)
                self.assertIn(what, self.assertJson(r, 400)["message"])
        # Retired: no registrations, no events, no sample; the webhook keeps its place.
        j = self.assertJson(self.srv.admin("DELETE", "/triggers/" + tid), 200)
        self.assertTrue(j["retired"])
        self.assertTimestamp(j["retiredAt"])
        r = self.t.register(tid, expect=400)
        self.assertIn("is retired", r.json["message"])
        r = self.publish(self.t, trigger=tid, expect=None)
        self.assertIn("is retired", self.assertJson(r, 400)["message"])
        self.assertPublicError(self.sample_payload(tid), 400)
        token = self.t.auth()
        r = self.srv.public("GET", "/platform-integration/v1/webhook-list",
                            headers={"X-Airmeet-Access-Token": token})
        listed = self.assertJson(r, 200)["webhookDTOList"]
        self.assertIn(hook["id"], [w["id"] for w in listed])
        self.assertEqual(self.webhook_view(hook["id"])["triggerMetaInfoId"], tid)
        # Restored: in use again.
        j = self.assertJson(self.srv.admin("PATCH", "/triggers/" + tid, {"retired": False}), 200)
        self.assertFalse(j["retired"])
        self.assertIsNone(j["retiredAt"])
        self.assertEqual(self.publish(self.t, trigger=tid)["deliveries"], 1)
        self.assertAdminError(self.srv.admin("PATCH", "/triggers/no.such", {"retired": True}),
                              404)
        self.assertAdminError(self.srv.admin("DELETE", "/triggers/no.such"), 404)

    def test_builtin_hide_and_show(self):
        tid = "trigger.leaderboard.scoreboard"
        hook = self.hook(self.t, trigger=tid)
        r = self.srv.admin("DELETE", "/triggers/" + tid)
        self.assertIn("cannot be removed, only hidden", self.assertJson(r, 409)["message"])
        for body in ({"description": "mine now"}, {"hidden": True, "description": "x"},
                     {"retired": True}):
            with self.subTest(body=body):
                r = self.srv.admin("PATCH", "/triggers/" + tid, body)
                self.assertIn("only hidden or shown", self.assertJson(r, 400)["message"])
        try:
            j = self.assertJson(self.srv.admin("PATCH", "/triggers/" + tid, {"hidden": True}),
                                200)
            self.assertTrue(j["hidden"])
            self.assertTrue(j["builtin"])
            # Hidden: as if the catalog had no such trigger.
            r = self.t.register(tid, expect=400)
            self.assertIn("unknown triggerMetaInfoId", r.json["message"])
            self.assertPublicError(self.sample_payload(tid), 400)
            r = self.publish(self.t, trigger=tid, expect=None)
            self.assertIn("unknown triggerMetaInfoId", self.assertJson(r, 400)["message"])
            self.assertTrue(self.webhook_view(hook["id"])["isActive"])
            # Hiding twice is the same.
            j2 = self.assertJson(self.srv.admin("PATCH", "/triggers/" + tid, {"hidden": True}),
                                 200)
            self.assertEqual(j2["hiddenAt"], j["hiddenAt"])
        finally:
            j = self.assertJson(self.srv.admin("PATCH", "/triggers/" + tid, {"hidden": False}),
                                200)
        self.assertFalse(j["hidden"])
        self.assertEqual(self.assertJson(self.sample_payload(tid), 200)["payload"]
                         ["triggerMetaInfoId"], tid)
        self.assertEqual(self.publish(self.t, trigger=tid)["deliveries"], 1)

    def test_admin_token_required(self):
        for method, path in (("GET", "/triggers"), ("POST", "/triggers"),
                             ("PATCH", "/triggers/x"), ("DELETE", "/triggers/x")):
            with self.subTest(method=method):
                self.assertAdminError(self.srv.admin(method, path, {}, token="wrong"), 401)

    def test_cli(self):
        env = {"AIRHOOK_SERVER": self.srv.base_url, "AIRHOOK_ADMIN_TOKEN": self.srv.admin_token,
               "PATH": "/usr/bin:/bin"}

        def cli(*args, stdin=None):
            return subprocess.run([BINARY, *args], env=env, capture_output=True, text=True,
                                  timeout=30, input=stdin)
        tid = new_id("trigger.cli")
        out = cli("triggers", "add", "--id", tid, "--description", "From the CLI.",
                  "--airmeet-scope", "required", "--sample", "-", "--schema",
                  json.dumps({"type": "object", "required": ["n"]}),
                  stdin=json.dumps({"n": 1}))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["airmeetId"], "required")
        out = cli("triggers", "sample", tid)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout), {"n": 1})
        r = self.t.register(tid, expect=400)
        self.assertIn("needs the query parameter airmeetId", r.json["message"])
        self.t.register(tid, airmeet_id=self.t.airmeet_id)
        # A refused schema: the server's sentence, and a non-zero exit.
        out = cli("triggers", "update", tid, "--schema", '{"format": "uri"}')
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("unsupported JSON Schema keyword 'format'", out.stdout + out.stderr)
        out = cli("triggers", "update", tid, "--schema", "{not json")
        self.assertEqual(out.returncode, 2, out.stderr)
        out = cli("triggers", "update", tid, "--no-schema", "true")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIsNone(json.loads(out.stdout)["schema"])
        out = cli("triggers", "retire", tid)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(json.loads(out.stdout)["retired"])
        out = cli("triggers", "restore", tid)
        self.assertFalse(json.loads(out.stdout)["retired"])
        out = cli("triggers", "hide", "trigger.attendee.joined_table")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(json.loads(out.stdout)["hidden"])
        out = cli("triggers", "unhide", "trigger.attendee.joined_table")
        self.assertFalse(json.loads(out.stdout)["hidden"])
        out = cli("triggers", "show", tid)
        self.assertEqual(json.loads(out.stdout)["id"], tid)
        out = cli("triggers", "list")
        self.assertIn(tid, [x["id"] for x in json.loads(out.stdout)["triggers"]])
        out = cli("triggers", "retire", "trigger.airmeet.created")
        self.assertNotEqual(out.returncode, 0)


class CatalogAcrossProcessesTests(DeliveryTestCase):
    """The catalog is cached per process under the store's `auth` generation:
    a change made through another process (another airhook on the SQLite
    file, another node on PostgreSQL) shows in this one's next request
    (on PostgreSQL once the notification arrives, and within 100 ms)."""

    def soon(self, ask, want):
        deadline = time.monotonic() + OTHER_PROCESS_S * 5
        while True:
            got = ask()
            if got == want or time.monotonic() >= deadline:
                self.assertEqual(got, want)
                return
            time.sleep(0.005)

    def test_changes_through_another_process_show_at_once(self):
        t = self.srv.make_tenant()
        b = start_server(self, (), workdir=self.srv.workdir, admin_token=self.srv.admin_token)
        tid = new_id("trigger.xproc")

        def sample_status(tid_=tid):
            return self.srv.public("GET", "/platform-integration/v1/sample-payload",
                                   headers=t.key_headers(),
                                   query={"triggerMetaInfoId": tid_}).status
        # Asked twice here: the second answer comes from this process's snapshot.
        self.assertEqual((sample_status(), sample_status()), (400, 400))
        r = b.admin("POST", "/triggers", {"id": tid, "description": "Across processes.",
                                         "samplePayload": {"n": 1}})
        self.assertJson(r, 201)
        self.soon(sample_status, 200)
        self.assertEqual(t.register(tid).status, 200)
        self.assertJson(b.admin("DELETE", "/triggers/" + tid), 200)
        self.soon(lambda: t.register(tid, url=hook_url(), expect=None).status, 400)
        builtin = "trigger.attendee.opened_resource"
        self.assertEqual((sample_status(builtin), sample_status(builtin)), (200, 200))
        self.assertJson(b.admin("PATCH", "/triggers/" + builtin, {"hidden": True}), 200)
        try:
            self.soon(lambda: sample_status(builtin), 400)
        finally:
            self.assertJson(b.admin("PATCH", "/triggers/" + builtin, {"hidden": False}), 200)
        self.soon(lambda: sample_status(builtin), 200)


if __name__ == "__main__":
    import unittest
    unittest.main()

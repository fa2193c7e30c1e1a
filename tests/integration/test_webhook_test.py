# SPDX-License-Identifier: MIT
"""Test deliveries: POST {base}/airhook/v1/webhooks/{id}/test, GET
{base}/airhook/v1/deliveries/{id} and `airhook webhooks test`, the real
binary against a real server and a real loopback receiver.

The retry schedule here is 0,1m,1m: after a failed first attempt the
delivery stays pending for a minute, long enough for the CLI to show the
retry it waits for."""

import json
import subprocess
import uuid

from deliverykit import DeliveryTestCase, LOOPBACK, verifying
from harness import BINARY, TRIGGERS

TRIGGER = "trigger.airmeet.registrant.added"  # airmeetId required at registration
FREE = "trigger.airmeet.created"


class WebhookTestBase(DeliveryTestCase):
    SERVER_ARGS = ("--allow-net", LOOPBACK, "--retry-schedule", "0,1m,1m",
                   "--delivery-timeout", "2s")

    def setUp(self):
        self.t = self.srv.make_tenant()
        self.token = self.t.auth()

    def send_test(self, webhook_id, body=None, token=None):
        headers = {"X-Airmeet-Access-Token": token or self.token}
        return self.srv.public("POST", "/airhook/v1/webhooks/%s/test" % webhook_id,
                               headers=headers, json_body=body)

    def public_delivery(self, delivery_id, token=None):
        return self.srv.public("GET", "/airhook/v1/deliveries/" + delivery_id,
                               headers={"X-Airmeet-Access-Token": token or self.token})

    def sample(self, trigger):
        r = self.srv.public("GET", "/platform-integration/v1/sample-payload",
                            headers=self.t.key_headers(), query={"triggerMetaInfoId": trigger})
        return self.assertJson(r, 200)["payload"]


class EndpointTests(WebhookTestBase):

    def test_sends_the_signed_sample_to_that_webhook_only(self):
        h = self.hook(self.t, trigger=TRIGGER, airmeet_id=self.t.airmeet_id)
        twin = self.hook(self.t, trigger=TRIGGER, airmeet_id=self.t.airmeet_id)
        j = self.assertJson(self.send_test(h["id"]), 202)
        self.assertEqual(set(j), {"deliveryId", "eventId", "webhookId", "triggerMetaInfoId"})
        self.assertEqual(j["webhookId"], h["id"])
        self.assertEqual(j["triggerMetaInfoId"], TRIGGER)
        got = self.wait_received(1, event_id=j["eventId"])
        rec = got[0]
        self.assertEqual(rec.webhook, h["id"])
        self.assertEqual(rec.headers.get("x-airmeet-trigger"), TRIGGER)
        self.assertEqual(json.loads(rec.body), self.sample(TRIGGER))
        self.assertTrue(verifying(h["secret"], rec.event_id, rec.headers["webhook-timestamp"],
                                  rec.body, rec.headers["webhook-signature"]))
        # The integrator reads it back, in the admin API's shape, with its attempt.
        d = self.wait_delivery(j["deliveryId"], lambda d: d["status"] == "succeeded")
        pub = self.assertJson(self.public_delivery(j["deliveryId"]), 200)
        self.assertEqual(pub, d)
        self.assertEqual(len(pub["attempts"]), 1)
        self.assertEqual(pub["attempts"][0]["statusCode"], 200)
        # Only that webhook: its twin (same trigger and scope) got nothing.
        self.assertEqual(len(self.event_deliveries(j["eventId"])), 1)
        self.assertNothingMore(lambda: self.rcv.count(j["eventId"]), 1,
                               what="requests with the test event's id")
        self.assertEqual(self.rcv.count(webhook=twin["id"]), 0)
        # The operator sees a real event, marked as a test.
        r = self.srv.admin("GET", "/events?communityId=" + self.t.community_id)
        ev = [e for e in self.assertJson(r, 200)["events"] if e["id"] == j["eventId"]]
        self.assertEqual(len(ev), 1)
        self.assertIs(ev[0]["test"], True)
        self.assertEqual(ev[0]["airmeetId"], self.t.airmeet_id, "the webhook's scope")
        published = self.publish(self.t, trigger=FREE)
        r = self.srv.admin("GET", "/events?communityId=" + self.t.community_id)
        ev = [e for e in self.assertJson(r, 200)["events"] if e["id"] == published["eventId"]]
        self.assertIs(ev[0]["test"], False)

    def test_trigger_in_the_body(self):
        h = self.hook(self.t, trigger=FREE)
        j = self.assertJson(self.send_test(h["id"], {"triggerMetaInfoId": FREE}), 202)
        self.assertEqual(j["triggerMetaInfoId"], FREE)
        r = self.send_test(h["id"], {"triggerMetaInfoId": "trigger.airmeet.started"})
        msg = self.assertJson(r, 400)["message"]
        self.assertIn("receives only", msg)
        self.assertIn("did you mean " + FREE, msg)
        r = self.send_test(h["id"], {"triggerMetaInfoId": "trigger.airmeet.creatd"})
        msg = self.assertJson(r, 400)["message"]
        self.assertIn("unknown triggerMetaInfoId", msg)
        self.assertIn("did you mean " + FREE, msg)
        self.assertJson(self.send_test(h["id"], {"triggerMetaInfoId": 7}), 400)

    def test_another_communitys_webhook_and_delivery_are_404(self):
        h = self.hook(self.t, trigger=FREE)
        j = self.assertJson(self.send_test(h["id"]), 202)
        other = self.srv.make_tenant()
        other_token = other.auth()
        r = self.send_test(h["id"], token=other_token)
        self.assertEqual(self.assertJson(r, 404)["statusMessage"], "NOT_FOUND")
        self.assertJson(self.public_delivery(j["deliveryId"], token=other_token), 404)
        self.assertJson(self.send_test(str(uuid.uuid4())), 404)
        self.assertJson(self.send_test("not-a-uuid"), 404)
        self.assertJson(self.public_delivery(str(uuid.uuid4())), 404)
        # No token, or a wrong one: refused before anything is looked up.
        r = self.srv.public("POST", "/airhook/v1/webhooks/%s/test" % h["id"])
        self.assertJson(r, 400)
        self.wait_received(1, event_id=j["eventId"])
        self.assertNothingMore(lambda: self.rcv.count(webhook=h["id"]), 1,
                               what="requests to the webhook (only its own test)")

    def test_sixty_tests_a_minute_per_key(self):
        h = self.hook(self.t, trigger=FREE)
        for i in range(60):
            self.assertJson(self.send_test(h["id"]), 202)
        r = self.send_test(h["id"])
        msg = self.assertJson(r, 429)["message"]
        self.assertIn("at most 60 a minute", msg)
        self.assertTrue(r.header("Retry-After", "").isdigit(), repr(r))
        # Another key of the same community has its own count.
        other = self.t.new_key()
        tok = self.srv.public("POST", "/auth", headers={
            "X-Airmeet-Access-Key": other["accessKey"],
            "X-Airmeet-Secret-Key": other["secretKey"]}).json["token"]
        self.assertJson(self.send_test(h["id"], token=tok), 202)

    def test_deregistered_and_disabled(self):
        h = self.hook(self.t, trigger=FREE)
        r = self.srv.admin("POST", "/webhooks/%s/disable" % h["id"])
        self.assertJson(r, 200)
        msg = self.assertJson(self.send_test(h["id"]), 409)["message"]
        self.assertIn("disabled", msg)
        self.assertJson(self.srv.admin("POST", "/webhooks/%s/enable" % h["id"]), 200)
        self.assertJson(self.send_test(h["id"]), 202)
        r = self.srv.public("POST", "/platform-integration/v1/webhook-deregister",
                            headers=self.t.key_headers(),
                            json_body={"id": h["id"], "triggerMetaInfoId": FREE})
        self.assertJson(r, 200)
        msg = self.assertJson(self.send_test(h["id"]), 404)["message"]
        self.assertIn("deregistered", msg)


class CliTests(WebhookTestBase):

    def cli(self, *argv, env=None):
        e = {"AIRHOOK_BASE_URL": self.srv.base_url + self.srv.base_path(),
             "AIRHOOK_ACCESS_KEY": self.t.access_key, "AIRHOOK_SECRET_KEY": self.t.secret_key,
             "PATH": "/usr/bin:/bin"}
        e.update(env or {})
        return subprocess.run([BINARY, *argv], env=e, capture_output=True, text=True, timeout=60)

    def test_prints_a_successful_attempt(self):
        h = self.hook(self.t, path="/ok?size=20", trigger=TRIGGER, airmeet_id=self.t.airmeet_id)
        out = self.cli("webhooks", "test", h["id"])
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("test delivery ", out.stdout)
        self.assertIn("attempt 1: succeeded, HTTP 200 in ", out.stdout)
        self.assertIn("response: 0123456789abcdefghij", out.stdout)
        event_id = out.stdout.split("(event ")[1].split(",")[0]
        rec = self.wait_received(1, event_id=event_id)[0]
        self.assertEqual(rec.webhook, h["id"])
        self.assertTrue(verifying(h["secret"], rec.event_id, rec.headers["webhook-timestamp"],
                                  rec.body, rec.headers["webhook-signature"]))
        # A token instead of the key pair works too.
        out = self.cli("webhooks", "test", h["id"], "--wait", "0",
                       env={"AIRHOOK_ACCESS_KEY": "", "AIRHOOK_SECRET_KEY": "",
                            "AIRHOOK_TOKEN": self.token})
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn("attempt", out.stdout, "--wait 0 does not wait")

    def test_a_500_exits_1_and_shows_the_retry(self):
        h = self.hook(self.t, path="/status/500", trigger=FREE)
        out = self.cli("webhooks", "test", h["id"], "--trigger", FREE)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("attempt 1: failed, HTTP 500", out.stdout)
        self.assertIn("error: ", out.stdout)
        self.assertIn("retry pending: next attempt at ", out.stdout)

    def test_no_attempt_in_time_exits_3(self):
        h = self.hook(self.t, path="/stall?s=1.5", trigger=FREE)
        out = self.cli("webhooks", "test", h["id"], "--wait", "300ms")
        self.assertEqual(out.returncode, 3, out.stdout + out.stderr)
        self.assertIn("no attempt recorded within --wait", out.stderr)
        out = self.cli("webhooks", "test", h["id"], "--wait", "soon")
        self.assertEqual(out.returncode, 2, out.stderr)

    def test_refusals(self):
        h = self.hook(self.t, trigger=FREE)
        out = self.cli("webhooks", "test", h["id"], "--trigger", "airmeet.creatd")
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("did you mean: trigger.airmeet.created", out.stderr)
        other = self.srv.make_tenant()
        out = self.cli("webhooks", "test", h["id"],
                       env={"AIRHOOK_ACCESS_KEY": other.access_key,
                            "AIRHOOK_SECRET_KEY": other.secret_key})
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("no webhook registration with id", out.stdout)
        self.srv.public("POST", "/platform-integration/v1/webhook-deregister",
                        headers=self.t.key_headers(), json_body={"id": h["id"]})
        out = self.cli("webhooks", "test", h["id"])
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("was deregistered", out.stdout)
        out = self.cli("webhooks", "test", h["id"], env={"AIRHOOK_ACCESS_KEY": ""})
        self.assertEqual(out.returncode, 2, out.stderr)


class TriggersTableTests(WebhookTestBase):
    """`airhook triggers list --format table`: the catalog with its scope rules."""

    def admin_cli(self, *argv):
        env = {"AIRHOOK_SERVER": self.srv.base_url, "AIRHOOK_ADMIN_TOKEN": self.srv.admin_token,
               "PATH": "/usr/bin:/bin"}
        return subprocess.run([BINARY, *argv], env=env, capture_output=True, text=True,
                              timeout=30)

    def test_table_shows_scope_rules_and_state(self):
        self.assertJson(self.srv.admin("PATCH", "/triggers/trigger.attendee.joined_table",
                                       {"hidden": True}), 200)
        self.addCleanup(self.srv.admin, "PATCH", "/triggers/trigger.attendee.joined_table",
                        {"hidden": False})
        out = self.admin_cli("triggers", "list", "--format", "table")
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(lines[0].split()[:4], ["TRIGGER", "AIRMEETID", "SESSIONID", "STATE"])
        rows = {ln.split()[0]: ln.split()[1:4] for ln in lines[1:] if ln.startswith("trigger.")}
        for trigger, airmeet, session in TRIGGERS:
            self.assertIn(trigger, rows, out.stdout)
            self.assertEqual(rows[trigger][:2], [airmeet, session], trigger)
        self.assertEqual(rows["trigger.attendee.joined_table"][2], "hidden")
        self.assertEqual(rows["trigger.airmeet.created"][2], "built-in")
        self.assertIn("none (refused)", out.stdout)
        # `airhook triggers` alone (flags allowed) prints the same table.
        for argv in (["triggers"], ["triggers", "--server", self.srv.base_url]):
            alone = self.admin_cli(*argv)
            self.assertEqual(alone.returncode, 0, alone.stderr)
            self.assertEqual(alone.stdout, out.stdout)
        # The default is still the server's JSON, which scripts read.
        out = self.admin_cli("triggers", "list")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(len(json.loads(out.stdout)["triggers"]), len(rows))
        out = self.admin_cli("triggers", "list", "--format", "xml")
        self.assertEqual(out.returncode, 2)
        self.assertIn("--format is json or table", out.stderr)

# SPDX-License-Identifier: MIT
"""POST /admin/v1/events: fan-out to matching webhooks only (SPEC §4/§5/§6),
idempotency keys, validation."""

import json
import threading
import unittest
import uuid

from deliverykit import DeliveryTestCase, FREE_TRIGGER, event_body


class PublishFanOutTests(DeliveryTestCase):

    def setUp(self):
        self.t = self.srv.make_tenant()

    def test_fan_out_to_every_matching_webhook(self):
        hooks = [self.hook(self.t) for _ in range(3)]
        other_trigger = self.hook(self.t, trigger="trigger.airmeet.started")
        other_comm = self.srv.make_tenant()
        foreign = self.hook(other_comm)
        j = self.publish(self.t, data={"hello": "world"})
        self.assertEqual(j["deliveries"], 3, repr(j))
        self.assertIs(j["duplicate"], False, repr(j))
        eid = j["eventId"]
        got = self.wait_received(3, event_id=eid)
        self.assertEqual(sorted(r.webhook for r in got), sorted(h["id"] for h in hooks))
        for r in got:
            self.assertEqual(r.event_id, eid, "webhook-id must be the event id on every endpoint")
        ds = self.wait_event_settled(eid, 3)
        self.assertEqual(sorted(d["webhookId"] for d in ds), sorted(h["id"] for h in hooks))
        for d in ds:
            self.assertDeliveryShape(d)
            self.assertEqual(d["eventId"], eid)
            self.assertEqual(d["status"], "succeeded", repr(d))
            self.assertEqual(d["triggerMetaInfoId"], FREE_TRIGGER)
            self.assertEqual(d["attemptCount"], 1, repr(d))
            self.assertEqual(d["lastStatusCode"], 200, repr(d))
        for h in (other_trigger, foreign):
            self.assertEqual(self.rcv.count(webhook=h["id"]), 0, "non-matching webhook got a delivery")

    def test_no_matching_webhook_zero_deliveries(self):
        j = self.publish(self.t, trigger="trigger.attendee.booth.joined")
        self.assertEqual(j["deliveries"], 0, repr(j))
        self.assertEqual(self.event_deliveries(j["eventId"]), [])

    def test_airmeet_and_session_scoping(self):
        """SPEC §4: a webhook matches when its airmeetId is unset or equal to
        the event's and its sessionId is unset or equal to the event's."""
        t = self.t
        trig = "trigger.airmeet.questions"  # airmeet optional, session optional
        a, s = t.airmeet_id, t.session_id
        s2 = t.new_session(a, name="Other session")
        b = t.new_airmeet(name="Airmeet B")
        h = {
            "any": self.hook(t, trigger=trig),
            "a": self.hook(t, trigger=trig, airmeet_id=a),
            "a_s": self.hook(t, trigger=trig, airmeet_id=a, session_id=s),
            "a_s2": self.hook(t, trigger=trig, airmeet_id=a, session_id=s2),
            "b": self.hook(t, trigger=trig, airmeet_id=b),
        }
        cases = [
            ({"airmeet_id": a, "session_id": s}, {"any", "a", "a_s"}),
            ({"airmeet_id": a, "session_id": s2}, {"any", "a", "a_s2"}),
            ({"airmeet_id": a}, {"any", "a"}),
            ({"airmeet_id": b}, {"any", "b"}),
            ({}, {"any"}),
        ]
        for kw, want in cases:
            with self.subTest(event=kw):
                j = self.publish(t, trigger=trig, **kw)
                self.assertEqual(j["deliveries"], len(want), "%r: %r" % (kw, j))
                ds = self.event_deliveries(j["eventId"])
                want_ids = sorted(h[k]["id"] for k in want)
                self.assertEqual(sorted(d["webhookId"] for d in ds), want_ids)
                got = self.wait_received(len(want), event_id=j["eventId"])
                self.assertEqual(sorted(r.webhook for r in got), want_ids)

    def test_required_scope_trigger(self):
        """trigger.airmeet.registrant.added webhooks are per airmeet."""
        t = self.t
        trig = "trigger.airmeet.registrant.added"
        ha = self.hook(t, trigger=trig, airmeet_id=t.airmeet_id)
        b = t.new_airmeet(name="B")
        hb = self.hook(t, trigger=trig, airmeet_id=b)
        j = self.publish(t, trigger=trig, airmeet_id=b, data={"email": "x@example.com"})
        self.assertEqual(j["deliveries"], 1, repr(j))
        got = self.wait_received(1, event_id=j["eventId"])
        self.assertEqual(got[0].webhook, hb["id"])
        self.assertEqual(self.rcv.count(webhook=ha["id"]), 0)

    def test_inactive_webhooks_excluded(self):
        t = self.t
        live = self.hook(t)
        dereg = self.hook(t)
        disabled = self.hook(t)
        r = self.srv.public("POST", "/platform-integration/v1/webhook-deregister",
                            headers=t.key_headers(),
                            json_body={"id": dereg["id"], "triggerMetaInfoId": dereg["triggerMetaInfoId"],
                                       "url": dereg["url"]})
        self.assertJson(r, 200)
        self.assertJson(self.srv.admin("POST", "/webhooks/%s/disable" % disabled["id"]), 200)
        j = self.publish(t)
        self.assertEqual(j["deliveries"], 1, "only the active webhook matches: %r" % j)
        got = self.wait_received(1, event_id=j["eventId"])
        self.assertEqual(got[0].webhook, live["id"])
        self.assertEqual([d["webhookId"] for d in self.event_deliveries(j["eventId"])], [live["id"]])
        self.assertNothingMore(lambda: self.rcv.count(event_id=j["eventId"]), 1)

    def test_data_array_accepted(self):
        self.hook(self.t)
        j = self.publish(self.t, raw='[1, {"x": 2}]')
        got = self.wait_received(1, event_id=j["eventId"])
        self.assertEqual(got[0].body, b'[1, {"x": 2}]')


class IdempotencyTests(DeliveryTestCase):

    def setUp(self):
        self.t = self.srv.make_tenant()

    def test_repeated_key_same_event_no_second_delivery(self):
        h1, h2 = self.hook(self.t), self.hook(self.t)
        key = "order-" + uuid.uuid4().hex
        j1 = self.publish(self.t, data={"v": 1}, idempotency_key=key)
        self.assertIs(j1["duplicate"], False, repr(j1))
        self.assertEqual(j1["deliveries"], 2)
        self.wait_received(2, event_id=j1["eventId"])
        j2 = self.publish(self.t, data={"v": 1}, idempotency_key=key)
        self.assertEqual(j2["eventId"], j1["eventId"], "a repeated key returns the first eventId")
        self.assertIs(j2["duplicate"], True, repr(j2))
        self.assertEqual(j2["deliveries"], j1["deliveries"], "a duplicate reports the first delivery count")
        # Different data under the same key: still the first event, nothing new.
        j3 = self.publish(self.t, data={"v": 2}, idempotency_key=key)
        self.assertEqual(j3["eventId"], j1["eventId"])
        self.assertIs(j3["duplicate"], True)
        self.assertEqual(len(self.event_deliveries(j1["eventId"])), 2, "no new deliveries for a duplicate")
        self.assertNothingMore(lambda: self.rcv.count(event_id=j1["eventId"]), 2)
        for h in (h1, h2):
            self.assertEqual(self.rcv.count(webhook=h["id"]), 1)

    def test_repeated_key_while_first_still_pending(self):
        """The second publish arrives before anything is delivered."""
        self.hook(self.t, path="/stall?s=0.5")
        key = uuid.uuid4().hex
        j1 = self.publish(self.t, idempotency_key=key)
        j2 = self.publish(self.t, idempotency_key=key)
        self.assertEqual(j1["eventId"], j2["eventId"])
        self.assertIs(j2["duplicate"], True)
        self.wait_received(1, event_id=j1["eventId"])
        self.assertNothingMore(lambda: self.rcv.count(event_id=j1["eventId"]), 1, quiet=0.8)

    def test_concurrent_same_key_one_event(self):
        """Eight simultaneous publishes with one key: one event, one delivery."""
        self.hook(self.t)
        key = uuid.uuid4().hex
        body = event_body(self.t.community_id, data={"race": key}, idempotency_key=key)
        out = []
        barrier = threading.Barrier(8)

        def go():
            barrier.wait(5)
            r = self.publish_raw(body)
            out.append((r.status, r.json))
        ths = [threading.Thread(target=go) for _ in range(8)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(30)
        self.assertEqual([s for s, _ in out], [202] * 8, repr(out))
        self.assertEqual(len({j["eventId"] for _, j in out}), 1, repr(out))
        self.assertEqual(sorted(j["duplicate"] for _, j in out), [False] + [True] * 7, repr(out))
        eid = out[0][1]["eventId"]
        self.assertEqual(len(self.event_deliveries(eid)), 1)
        self.wait_received(1, event_id=eid)
        self.assertNothingMore(lambda: self.rcv.count(event_id=eid), 1, quiet=0.5)

    def test_different_keys_different_events(self):
        self.hook(self.t)
        j1 = self.publish(self.t, idempotency_key=uuid.uuid4().hex)
        j2 = self.publish(self.t, idempotency_key=uuid.uuid4().hex)
        j3 = self.publish(self.t)
        j4 = self.publish(self.t)
        ids = {j["eventId"] for j in (j1, j2, j3, j4)}
        self.assertEqual(len(ids), 4, "events without a shared key are distinct")
        for j in (j1, j2, j3, j4):
            self.assertIs(j["duplicate"], False)


class PublishValidationTests(DeliveryTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t = cls.srv.make_tenant()

    def post(self, body):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        return self.publish_raw(body)

    def base(self, **over):
        b = {"communityId": self.t.community_id, "triggerMetaInfoId": FREE_TRIGGER, "data": {"a": 1}}
        b.update(over)
        return b

    def test_valid_baseline_202(self):
        r = self.post(self.base())
        j = self.assertJson(r, 202)
        self.assertUuid(j["eventId"], "eventId")

    def test_needs_admin_token(self):
        r = self.srv.request("POST", "/admin/v1/events", body=json.dumps(self.base()),
                             headers={"Content-Type": "application/json"})
        self.assertAdminError(r, 401)
        r = self.srv.request("POST", "/admin/v1/events", body=json.dumps(self.base()),
                             headers={"Content-Type": "application/json",
                                      "Authorization": "Bearer wrong"})
        self.assertAdminError(r, 401)

    def test_unknown_community(self):
        cid = str(uuid.uuid4())
        r = self.post(self.base(communityId=cid))
        self.assertIn(cid, self.assertAdminError(r, 404)["message"])
        # With an idempotency key too, and nothing is kept: the same key
        # is refused again rather than answered as a duplicate.
        for _ in range(2):
            r = self.post(self.base(communityId=cid, idempotencyKey="k-unknown"))
            self.assertAdminError(r, 404)

    def test_bad_fields_400(self):
        cases = {
            "unknown trigger": self.base(triggerMetaInfoId="trigger.nope"),
            "trigger missing": {k: v for k, v in self.base().items() if k != "triggerMetaInfoId"},
            "community missing": {k: v for k, v in self.base().items() if k != "communityId"},
            "data missing": {k: v for k, v in self.base().items() if k != "data"},
            "data null": self.base(data=None),
            "data string": self.base(data="hello"),
            "data number": self.base(data=42),
            "data true": self.base(data=True),
            "community not uuid": self.base(communityId="abc"),
            "airmeet not uuid": self.base(airmeetId="not-a-uuid"),
            "session not uuid": self.base(airmeetId=self.t.airmeet_id, sessionId="xyz"),
            "session without airmeet": self.base(sessionId=self.t.session_id),
            "idempotencyKey not string": self.base(idempotencyKey=12),
            "body array": [self.base()],
        }
        for what, body in cases.items():
            with self.subTest(what):
                self.assertAdminError(self.post(body), 400)

    def test_malformed_json_400(self):
        for raw in (b"", b"{", b'{"communityId":', b"nope", b'{"data":{"a":1}', b"\xff\xfe"):
            with self.subTest(raw=raw):
                self.assertAdminError(self.post(raw), 400)

    def test_unknown_airmeet_or_session(self):
        """SPEC is silent: an event may name an airmeet airhook never saw (the
        platform need not mirror every airmeet; it then matches only unscoped
        webhooks), or be refused.  Either way nothing breaks."""
        t = self.srv.make_tenant()
        h = self.hook(t, trigger="trigger.airmeet.questions")
        for extra in ({"airmeetId": str(uuid.uuid4())},
                      {"airmeetId": t.airmeet_id, "sessionId": str(uuid.uuid4())}):
            with self.subTest(extra=extra):
                r = self.post(self.base(communityId=t.community_id,
                                        triggerMetaInfoId="trigger.airmeet.questions", **extra))
                self.assertIn(r.status, (202, 400, 404), repr(r))
                if r.status == 202:
                    self.assertEqual(r.json["deliveries"], 1, "only the unscoped webhook: %r" % r)
                    self.wait_received(1, event_id=r.json["eventId"], webhook=h["id"])

    def test_large_event_under_limit_accepted(self):
        blob = "y" * (1024 * 1024 - 4096)
        r = self.post(self.base(data={"blob": blob}))
        self.assertJson(r, 202)

    def test_body_over_1mib_413(self):
        body = json.dumps(self.base(data={"blob": "z" * (1024 * 1024 + 10)})).encode()
        head = ("POST /admin/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (
                    self.srv.admin_token, len(body))).encode()
        # The server may answer 413 before reading it all, and close.
        r = self.srv.send_streaming(head, body, timeout=30)
        self.assertIsNotNone(r, "no answer to a 1 MiB+ event")
        self.assertEqual(r.status, 413, repr(r))
        self.assertServerUp()

    def test_nothing_published_on_error(self):
        """A refused event creates no deliveries."""
        t = self.srv.make_tenant()
        h = self.hook(t)
        self.assertAdminError(self.post(self.base(communityId=t.community_id, data="x")), 400)
        self.assertEqual(self.all_deliveries("webhooks", h["id"]), [])


if __name__ == "__main__":
    unittest.main()

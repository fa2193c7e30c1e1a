# SPDX-License-Identifier: MIT
"""Power Automate's certified Airmeet connector, replayed against airhook
with only the host changed: POST auth -> GET airmeets (the airmeet picker)
-> GET airmeet/{id}/info (the session picker) -> webhook-register with the
flow's callback URL in `url` -> a delivery reaches the callback -> DELETE
to the Location the registration answered.

Each request is sent as the connector sends it (docs/notes: apiProperties
policies add x-access-key, x-secret-key, a `region` header, Accept and
Content-Type to every operation; script.csx posts `{}` to auth with the
X-Airmeet- key headers, reads the token at the top level, and overwrites
name and description on register; no platformName).  Two generations of
the connector: version 2.0 of its swagger addresses the event API at the
root (/api/v1/auth, /api/v1/airmeets, /api/v1/airmeet/{id}/info), the
latest one under the gateway's base path (/prod/auth, /prod/airmeets,
/prod/airmeet/{id}/info); both register under /prod.  Everything talks to
127.0.0.1 only."""

import json
import urllib.parse

from deliverykit import DeliveryTestCase

GENERATIONS = {
    "swagger-2.0": {"auth": "/api/v1/auth", "airmeets": "/api/v1/airmeets",
                    "info": "/api/v1/airmeet/%s/info"},
    "latest": {"auth": "/prod/auth", "airmeets": "/prod/airmeets",
               "info": "/prod/airmeet/%s/info"},
}
REGISTER = "/prod/platform-integration/v1/webhook-register"


class PowerAutomateFlowTests(DeliveryTestCase):

    def policy_headers(self, t):
        """What the connector's policies put on every operation."""
        return {"x-access-key": t.access_key, "x-secret-key": t.secret_key,
                "region": "127.0.0.1:%d" % self.srv.port, "Accept": "application/json",
                "Content-Type": "application/json"}

    def replay(self, paths, trigger, with_session):
        t = self.srv.make_tenant()
        second = t.new_session(t.airmeet_id, name="Workshop")
        self.assertJson(self.srv.admin("PATCH", "/airmeets/" + t.airmeet_id,
                                       {"status": "ONGOING", "timezone": "Europe/Dublin"}), 200)
        base = self.policy_headers(t)

        # 1. Auth: {} with the X-Airmeet- key headers; the token is read at the top level.
        h = dict(base, **{"X-Airmeet-Access-Key": t.access_key,
                          "X-Airmeet-Secret-Key": t.secret_key})
        r = self.srv.request("POST", paths["auth"], headers=h, body=b"{}")
        token = self.assertJson(r, 200)["token"]
        self.assertTrue(token)
        h = dict(base, **{"X-Airmeet-Access-Token": token})

        # 2. The airmeet picker: value-collection data, value-path uid, value-title name.
        r = self.srv.request("GET", paths["airmeets"], headers=h,
                             query={"allAirmeets": "True", "crmName": "MICROSOFT_DYNAMICS"})
        j = self.assertJson(r, 200)
        picked = [a for a in j["data"] if a["uid"] == t.airmeet_id]
        self.assertEqual(len(picked), 1, j)
        self.assertEqual((picked[0]["name"], picked[0]["status"], picked[0]["timezone"]),
                         ("Airmeet", "ONGOING", "Europe/Dublin"))
        for k in ("after", "before", "pageCount"):
            self.assertIn(k, j["cursors"])

        # 3. The session picker: the id is URL-encoded twice ("x-ms-url-encoding": "double").
        once = urllib.parse.quote(t.airmeet_id, safe="")
        r = self.srv.request("GET", paths["info"] % urllib.parse.quote(once, safe=""),
                             headers=h)
        j = self.assertJson(r, 200)
        sessions = {s["sessionid"]: s["name"] for s in j["sessions"]}
        self.assertEqual(sessions, {t.session_id: "Session", second: "Workshop"})

        # 4. Register: the key pair, the callback in `url`, the script's name and description.
        callback = self.rcv.url("/flow-callback") + "?sig=" + urllib.parse.quote("a/b+c=")
        q = {"airmeetId": t.airmeet_id}
        if with_session:
            q["sessionId"] = second
        body = {"url": callback, "triggerMetaInfoId": trigger,
                "name": "ATTENDEE_JOINED_SESSION",
                "description": "Airmeet joined session trigger subscription for "
                               "MICROSOFT_DYNAMICS"}
        r = self.srv.request("POST", REGISTER, headers=base, query=q,
                             body=json.dumps(body).encode())
        reg = self.assertJson(r, 200)
        self.assertEqual(reg["statusMessage"], "SUCCESS")
        webhook_id = reg["payload"]["id"]
        location = r.header("Location")
        self.assertTrue(location, "register must say where to deregister: %r" % r)
        target = urllib.parse.urljoin("http://127.0.0.1:%d%s" % (self.srv.port, REGISTER),
                                      location)
        u = urllib.parse.urlsplit(target)
        self.assertEqual((u.hostname, u.port), ("127.0.0.1", self.srv.port))

        # 5. A delivery reaches the flow's callback, exactly as published.
        data = {"airmeetName": "Airmeet", "email": "ada@example.com", "firstName": "Ada"}
        ev = self.publish(t, trigger=trigger, data=data, airmeet_id=t.airmeet_id,
                          session_id=second if with_session else None)
        self.assertEqual(ev["deliveries"], 1)
        got = self.wait_received(1, event_id=ev["eventId"], webhook=webhook_id)
        self.assertEqual(got[0].route, "/flow-callback")
        self.assertEqual(got[0].query, {"sig": "a/b+c="})
        self.assertEqual(json.loads(got[0].body), data)

        # 6. The flow's trigger is deleted: DELETE to the Location, no body.
        h = dict(base)
        del h["Content-Type"]
        r = self.srv.request("DELETE", u.path + ("?" + u.query if u.query else ""), headers=h)
        self.assertJson(r, 200)
        ev = self.publish(t, trigger=trigger, data=data, airmeet_id=t.airmeet_id,
                          session_id=second if with_session else None)
        self.assertEqual(ev["deliveries"], 0)
        # The same Location again: that registration is gone.
        r = self.srv.request("DELETE", u.path + "?" + u.query, headers=h)
        self.assertPublicError(r, 404)

    def test_swagger_2_0_paths_session_trigger(self):
        self.replay(GENERATIONS["swagger-2.0"], "trigger.session.attendee.joined", True)

    def test_latest_paths_session_trigger(self):
        self.replay(GENERATIONS["latest"], "trigger.session.attendee.joined", True)

    def test_latest_paths_newer_catalog_trigger(self):
        # One of the ten triggers of Airmeet's newer catalog, scoped to the picked airmeet.
        self.replay(GENERATIONS["latest"], "trigger.attendee.entered_airmeet", False)

    def test_location_is_the_registrations_own(self):
        """A twin registration (same trigger, url, scope) answers the same id and Location."""
        t = self.srv.make_tenant()
        url = self.rcv.url("/twin")
        rs = [t.register("trigger.airmeet.created", url=url) for _ in range(2)]
        self.assertEqual(rs[0].json["payload"]["id"], rs[1].json["payload"]["id"])
        self.assertEqual(rs[0].header("Location"), rs[1].header("Location"))
        self.assertEqual(rs[0].header("Location"),
                         "/prod/platform-integration/v1/webhook-deregister?id="
                         + rs[0].json["payload"]["id"])


if __name__ == "__main__":
    import unittest
    unittest.main()

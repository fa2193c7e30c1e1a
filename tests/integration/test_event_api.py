# SPDX-License-Identifier: MIT
"""Airmeet's event API, as much of it as clients call before they register:
POST /api/v1/auth, GET /api/v1/airmeets and GET /api/v1/airmeet/{id}/info,
at the root and under the base path (with and without /api/v1), answered
from the airmeets and sessions airhook stores; and the admin API (and CLI)
that sets what they answer."""

import subprocess
import time
import unittest
import uuid

from harness import BINARY, ServerTestCase

# Every path a client may use for each endpoint (docs/api.md, "Event API").
AUTH_PATHS = ["/api/v1/auth", "/prod/api/v1/auth", "/prod/auth"]
LIST_PATHS = ["/api/v1/airmeets", "/prod/api/v1/airmeets", "/prod/airmeets"]
INFO_PATHS = ["/api/v1/airmeet/%s/info", "/prod/api/v1/airmeet/%s/info", "/prod/airmeet/%s/info"]


class EventApiTests(ServerTestCase):
    SERVER_ARGS = ("--auth-fail-limit", "1000")

    def token_for(self, t):
        r = self.srv.request("POST", "/api/v1/auth", headers=t.key_headers("airmeet"),
                             json_body={})
        j = self.assertJson(r, 200)
        return j["token"]

    def get(self, path, token, query=None):
        return self.srv.request("GET", path, headers={"X-Airmeet-Access-Token": token},
                                query=query)

    def test_auth_on_every_path(self):
        t = self.srv.make_tenant()
        for path in AUTH_PATHS:
            with self.subTest(path=path):
                r = self.srv.request("POST", path, headers=t.key_headers("airmeet"), json_body={})
                j = self.assertJson(r, 200)
                # The token at the top level (what clients read) and under data (Airmeet's docs).
                self.assertTrue(j["token"].startswith("aht_"))
                self.assertEqual(j["data"]["token"], j["token"])
                self.assertEqual(j["label"], t.label)
                # It works for the webhook API too: the same key pair, the same token.
                r = self.srv.public("GET", "/platform-integration/v1/webhook-list",
                                    headers={"X-Airmeet-Access-Token": j["token"]})
                self.assertJson(r, 200)
        r = self.srv.request("POST", "/api/v1/auth", headers={"X-Airmeet-Access-Key": "nope",
                                                              "X-Airmeet-Secret-Key": "nope"})
        self.assertAuthError(r, 400)

    def test_airmeets_lists_the_callers_community(self):
        t = self.srv.make_tenant(with_airmeet=False)
        other = self.srv.make_tenant()
        ids = []
        for i in range(3):
            ids.append(t.new_airmeet(name="Event %d" % i))
            time.sleep(0.002)  # distinct creation times: the order is theirs
        r = self.srv.admin("PATCH", "/airmeets/" + ids[1],
                           {"status": "ONGOING", "timezone": "Asia/Kolkata",
                            "description": "The second one.",
                            "startTime": "2026-03-01T10:00:00.000+00:00",
                            "endTime": "2026-03-01T12:00:00.000+00:00"})
        self.assertJson(r, 200)
        token = self.token_for(t)
        for path in LIST_PATHS:
            with self.subTest(path=path):
                j = self.assertJson(self.get(path, token), 200)
                self.assertEqual([a["uid"] for a in j["data"]], ids)
                self.assertNotIn(other.airmeet_id, [a["uid"] for a in j["data"]])
                for a in j["data"]:
                    self.assertEqual(sorted(a), sorted(["uid", "name", "status", "timezone",
                                                        "description", "startTime", "endTime"]))
                second = j["data"][1]
                self.assertEqual(second["status"], "ONGOING")
                self.assertEqual(second["timezone"], "Asia/Kolkata")
                self.assertEqual(second["description"], "The second one.")
                self.assertEqual(second["startTime"], "2026-03-01T10:00:00.000+00:00")
                self.assertEqual(second["endTime"], "2026-03-01T12:00:00.000+00:00")
                # What the operator never set reads as a new event's defaults.
                first = j["data"][0]
                self.assertEqual((first["status"], first["timezone"]), ("CREATED", "UTC"))
                self.assertIsNone(first["description"])
                self.assertIsNone(first["startTime"])
                self.assertEqual(j["cursors"], {"after": None, "before": None, "pageCount": 1})

    def test_paging(self):
        t = self.srv.make_tenant(with_airmeet=False)
        ids = []
        for i in range(5):
            ids.append(t.new_airmeet(name="Paged %d" % i))
            time.sleep(0.002)
        token = self.token_for(t)
        j = self.assertJson(self.get("/api/v1/airmeets", token, {"size": "2"}), 200)
        self.assertEqual([a["uid"] for a in j["data"]], ids[:2])
        self.assertEqual(j["cursors"], {"after": 2, "before": None, "pageCount": 3})
        # Parsons' loop: pages 2..pageCount with the after cursor of the page before.
        seen = [a["uid"] for a in j["data"]]
        after = j["cursors"]["after"]
        for _ in range(2, j["cursors"]["pageCount"] + 1):
            k = self.assertJson(self.get("/api/v1/airmeets", token,
                                         {"size": "2", "after": str(after)}), 200)
            seen += [a["uid"] for a in k["data"]]
            after = k["cursors"]["after"]
        self.assertEqual(seen, ids)
        self.assertIsNone(after)
        # before: the page that ends where the given one starts.
        k = self.assertJson(self.get("/api/v1/airmeets", token, {"size": "2", "before": "4"}),
                            200)
        self.assertEqual([a["uid"] for a in k["data"]], ids[2:4])
        self.assertEqual(k["cursors"], {"after": 4, "before": 2, "pageCount": 3})
        k = self.assertJson(self.get("/api/v1/airmeets", token, {"size": "2", "before": "1"}),
                            200)
        self.assertEqual([a["uid"] for a in k["data"]], ids[:1])
        k = self.assertJson(self.get("/api/v1/airmeets", token, {"before": "0"}), 200)
        self.assertEqual(k["data"], [])
        # Both cursors: before is ignored (Airmeet's rule).
        k = self.assertJson(self.get("/api/v1/airmeets", token,
                                     {"size": "2", "after": "4", "before": "2"}), 200)
        self.assertEqual([a["uid"] for a in k["data"]], ids[4:])
        # Past the end: an empty page.
        k = self.assertJson(self.get("/api/v1/airmeets", token, {"after": "50"}), 200)
        self.assertEqual(k["data"], [])
        # The connector's query: allAirmeets=True asks for one full page; crmName is ignored.
        k = self.assertJson(self.get("/api/v1/airmeets", token,
                                     {"allAirmeets": "True", "crmName": "MICROSOFT_DYNAMICS"}),
                            200)
        self.assertEqual([a["uid"] for a in k["data"]], ids)
        for bad in ({"size": "0"}, {"size": "501"}, {"size": "x"}, {"after": "-1"},
                    {"before": "1.5"}, {"after": ""}):
            with self.subTest(query=bad):
                self.assertPublicError(self.get("/api/v1/airmeets", token, bad), 400)

    def test_info(self):
        t = self.srv.make_tenant()
        late = t.new_session(t.airmeet_id, name="Closing panel")
        r = self.srv.admin("PATCH", "/sessions/" + late,
                           {"startTime": "2026-03-01T11:00:00.000+00:00", "duration": 45,
                            "status": "FINISHED", "summary": "What we learned.",
                            "type": "FLUID_LOUNGE"})
        j = self.assertJson(r, 200)
        self.assertEqual((j["duration"], j["type"]), (45, "FLUID_LOUNGE"))
        r = self.srv.admin("PATCH", "/sessions/" + t.session_id,
                           {"startTime": "2026-03-01T10:00:00.000+00:00"})
        self.assertJson(r, 200)
        token = self.token_for(t)
        for path in INFO_PATHS:
            with self.subTest(path=path):
                j = self.assertJson(self.get(path % t.airmeet_id, token), 200)
                self.assertEqual(j["uid"], t.airmeet_id)
                self.assertEqual(j["name"], "Airmeet")
                s = j["sessions"]
                self.assertEqual([x["sessionid"] for x in s], [t.session_id, late])
                self.assertEqual(s[1]["name"], "Closing panel")
                self.assertEqual(s[1]["start_time"], "2026-03-01T11:00:00.000+00:00")
                self.assertEqual(s[1]["duration"], 45)
                self.assertEqual(s[1]["status"], "FINISHED")
                self.assertEqual(s[1]["summary"], "What we learned.")
                self.assertEqual(s[1]["type"], "FLUID_LOUNGE")
                for key in ("host_id", "cohost_ids", "speaker_id", "speakerList"):
                    self.assertEqual(s[1][key], [])
                self.assertEqual((s[0]["status"], s[0]["type"]), ("CREATED", "HOSTING"))
                self.assertIsNone(s[0]["duration"])
                self.assertIsNone(s[0]["summary"])

    def test_token_rules(self):
        t = self.srv.make_tenant()
        other = self.srv.make_tenant()
        token = self.token_for(t)
        for path in (LIST_PATHS[0], INFO_PATHS[0] % t.airmeet_id):
            with self.subTest(path=path):
                self.assertPublicError(self.srv.request("GET", path), 400)
                self.assertPublicError(self.get(path, "aht_" + "0" * 64), 400)
        # Another community's airmeet: 401; an unknown one (or no UUID): 404.
        self.assertPublicError(self.get(INFO_PATHS[0] % other.airmeet_id, token), 401)
        self.assertPublicError(self.get(INFO_PATHS[0] % uuid.uuid4(), token), 404)
        self.assertPublicError(self.get(INFO_PATHS[0] % "not-an-id", token), 404)
        # A key pair is not a token.
        r = self.srv.request("GET", LIST_PATHS[0], headers=t.key_headers())
        self.assertPublicError(r, 400)
        # Wrong methods: 405 with Allow.
        r = self.srv.request("POST", LIST_PATHS[0], json_body={})
        self.assertPublicError(r, 405)
        self.assertEqual(r.header("Allow"), "GET")
        r = self.srv.request("GET", "/api/v1/auth")
        self.assertPublicError(r, 405)
        self.assertPublicError(self.srv.request("GET", "/api/v1/nothing"), 404)

    def test_admin_sets_details_and_refuses_bad_ones(self):
        t = self.srv.make_tenant()
        r = self.srv.admin("POST", "/airmeets",
                           {"communityId": t.community_id, "name": "Created with details",
                            "status": "CREATED", "timezone": "Europe/Dublin",
                            "description": "From the start."})
        j = self.assertJson(r, 201)
        self.assertEqual((j["status"], j["timezone"], j["description"]),
                         ("CREATED", "Europe/Dublin", "From the start."))
        a = j["id"]
        r = self.srv.admin("PATCH", "/airmeets/" + a, {"description": None, "name": "Renamed"})
        j = self.assertJson(r, 200)
        self.assertIsNone(j["description"])
        self.assertEqual((j["name"], j["timezone"]), ("Renamed", "Europe/Dublin"))
        self.assertEqual(self.assertJson(self.srv.admin("GET", "/airmeets/" + a), 200), j)
        for bad in ({"status": "ongoing"}, {"timezone": "Asia Kolkata"}, {"name": ""},
                    {"name": None}, {"startTime": "yesterday"}, {"colour": "red"},
                    {"startTime": "2026-01-02T00:00:00Z", "endTime": "2026-01-01T00:00:00Z"},
                    {"status": "X" * 40}):
            with self.subTest(body=bad):
                self.assertAdminError(self.srv.admin("PATCH", "/airmeets/" + a, bad), 400)
        for bad in ({"duration": -1}, {"duration": "45"}, {"type": "hosting"}, {"venue": 1}):
            with self.subTest(body=bad):
                r = self.srv.admin("PATCH", "/sessions/" + t.session_id, bad)
                self.assertAdminError(r, 400)
        self.assertAdminError(self.srv.admin("PATCH", "/airmeets/%s" % uuid.uuid4(),
                                             {"status": "ONGOING"}), 404)
        self.assertAdminError(self.srv.admin("PATCH", "/sessions/%s" % uuid.uuid4(),
                                             {"status": "ONGOING"}), 404)
        self.assertAdminError(self.srv.admin("PATCH", "/airmeets/" + a, {"status": "ONGOING"},
                                             token="wrong"), 401)

    def test_cli_sets_details(self):
        t = self.srv.make_tenant()
        env = {"AIRHOOK_SERVER": self.srv.base_url, "AIRHOOK_ADMIN_TOKEN": self.srv.admin_token,
               "PATH": "/usr/bin:/bin"}
        out = subprocess.run([BINARY, "airmeet", "update", t.airmeet_id, "--status", "FINISHED",
                              "--timezone", "America/New_York", "--start", "2026-05-01T09:00:00Z"],
                             env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('"FINISHED"', out.stdout)
        out = subprocess.run([BINARY, "session", "update", t.session_id, "--duration", "30",
                              "--type", "BREAK", "--summary", "Coffee."],
                             env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        j = self.assertJson(self.get(INFO_PATHS[0] % t.airmeet_id, self.token_for(t)), 200)
        self.assertEqual((j["status"], j["timezone"], j["startTime"]),
                         ("FINISHED", "America/New_York", "2026-05-01T09:00:00.000+00:00"))
        self.assertEqual((j["sessions"][0]["duration"], j["sessions"][0]["type"],
                          j["sessions"][0]["summary"]), (30, "BREAK", "Coffee."))
        out = subprocess.run([BINARY, "session", "update", t.session_id, "--duration", "soon"],
                             env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        out = subprocess.run([BINARY, "airmeet", "show", t.airmeet_id], env=env,
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("America/New_York", out.stdout)


class EventApiExpiryTests(ServerTestCase):
    SERVER_ARGS = ("--token-ttl", "1s", "--auth-fail-limit", "1000")

    def test_expired_token_412(self):
        t = self.srv.make_tenant()
        r = self.srv.request("POST", "/api/v1/auth", headers=t.key_headers("airmeet"))
        token = self.assertJson(r, 200)["token"]
        time.sleep(1.3)
        for path in (LIST_PATHS[0], INFO_PATHS[0] % t.airmeet_id):
            with self.subTest(path=path):
                r = self.srv.request("GET", path, headers={"X-Airmeet-Access-Token": token})
                self.assertPublicError(r, 412)


if __name__ == "__main__":
    unittest.main()

# SPDX-License-Identifier: MIT
"""The contract documents against the running server.

- GET /openapi.json answers docs/openapi.json byte for byte, with a strong
  ETag (its SHA-256's first 32 hex digits), 304 for If-None-Match, and HEAD.
- Every response schema is strict (additionalProperties: false), but for
  the few marked x-airhook-open.
- docs/asyncapi.yaml: each channel's trigger has a sample (GET
  sample-payload) that validates against the channel's payload schema, with
  every field of the sample declared there; the channel's key and message
  name follow the trigger.  (tests/unit/test_contracts.c checks that the
  channels are exactly the catalog's triggers.)
- A real delivery of each payload kind, to a loopback receiver, fits its
  message: the headers against DeliveryHeaders (and the trigger's own
  x-airmeet-trigger), the body against the payload schema.

Every answer these tests get is also checked by the drift check
(contract.py), like every other test's.
"""

import copy
import hashlib
import json
import os
import unittest

import contract
from deliverykit import DeliveryTestCase
from harness import ServerTestCase

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OPENAPI_JSON = os.path.join(ROOT, "docs", "openapi.json")
ASYNCAPI_YAML = os.path.join(ROOT, "docs", "asyncapi.yaml")


def load_asyncapi():
    import yaml  # python3-yaml
    with open(ASYNCAPI_YAML, encoding="utf-8") as f:
        return yaml.safe_load(f)


def asyncapi_channels(doc):
    """[(trigger id, channel key, dereferenced message)] of docs/asyncapi.yaml."""
    out = []
    for key, ch in doc["channels"].items():
        tid = ch["x-airhook-trigger"]["id"]
        (msg,) = ch["messages"].values()
        out.append((tid, key, contract._deref(msg, doc)))
    return out


def undeclared(value, schema, path="$"):
    """Paths of object keys in value that schema (dereferenced) does not declare."""
    found = []
    if isinstance(value, dict):
        props = {}
        for part in [schema] + schema.get("allOf", []):
            props.update(part.get("properties", {}))
        for k, v in value.items():
            if k not in props:
                found.append("%s.%s" % (path, k))
            else:
                found += undeclared(v, props[k], "%s.%s" % (path, k))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            found += undeclared(v, schema["items"], "%s[%d]" % (path, i))
    return found


def validate(schema, value):
    """Messages of what in value does not fit schema (JSON Schema 2020-12)."""
    import jsonschema
    v = jsonschema.Draft202012Validator(schema)
    return ["%s: %s" % (contract._json_path(e), e.message) for e in v.iter_errors(value)]


class OpenApiDocumentTest(ServerTestCase):
    def test_served_document_is_the_file(self):
        with open(OPENAPI_JSON, "rb") as f:
            want = f.read()
        r = self.srv.request("GET", "/openapi.json")
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.content_type, "application/json")
        self.assertEqual(r.body, want, "GET /openapi.json must answer docs/openapi.json as built")
        etag = '"%s"' % hashlib.sha256(want).hexdigest()[:32]
        self.assertEqual(r.header("ETag"), etag)
        self.assertEqual(json.loads(want)["openapi"][:4], "3.1.")

    def test_etag_answers_304(self):
        etag = self.srv.request("GET", "/openapi.json").header("ETag")
        for inm in (etag, "W/" + etag, '"other", ' + etag, "*"):
            r = self.srv.request("GET", "/openapi.json", headers={"If-None-Match": inm})
            self.assertEqual(r.status, 304, "If-None-Match %s: %r" % (inm, r))
            self.assertEqual(r.body, b"")
            self.assertEqual(r.header("ETag"), etag)
        r = self.srv.request("GET", "/openapi.json", headers={"If-None-Match": '"other"'})
        self.assertEqual(r.status, 200, repr(r))
        r = self.srv.request("HEAD", "/openapi.json")
        self.assertEqual((r.status, r.body, r.header("ETag")), (200, b"", etag))

    def test_needs_no_credentials_and_answers_on_worker_nodes_too(self):
        r = self.srv.request("GET", "/openapi.json", headers={"Authorization": "Bearer wrong"})
        self.assertEqual(r.status, 200, repr(r))

    def test_response_schemas_are_strict(self):
        """Every object a response schema describes forbids fields it does not name
        (additionalProperties: false), so the drift check catches a field added to a
        handler; the few open on purpose say so with x-airhook-open."""
        with open(OPENAPI_JSON, encoding="utf-8") as f:
            doc = json.load(f)
        loose = []

        def walk(node, where):
            if isinstance(node, list):
                for i, x in enumerate(node):
                    walk(x, "%s[%d]" % (where, i))
                return
            if not isinstance(node, dict):
                return
            if "properties" in node and node.get("additionalProperties") is not False \
                    and "x-airhook-open" not in node:
                loose.append(where)
            for k, v in node.items():
                walk(v, "%s.%s" % (where, k))

        for template, item in doc["paths"].items():
            for method, op in item.items():
                if not isinstance(op, dict):
                    continue
                for status, resp in contract._deref(op.get("responses", {}), doc).items():
                    for media, content in resp.get("content", {}).items():
                        walk(content.get("schema"), "%s %s %s %s" % (method.upper(), template,
                                                                      status, media))
        self.assertEqual(loose, [], "response schemas that allow undeclared fields")


class AsyncApiSamplesTest(ServerTestCase):
    def test_every_channel_has_a_sample_that_fits(self):
        doc = load_asyncapi()
        channels = asyncapi_channels(doc)
        self.assertGreater(len(channels), 0)
        t = self.srv.make_tenant()
        for tid, key, msg in channels:
            with self.subTest(trigger=tid):
                self.assertEqual(key, tid.replace(".", "_"), "channel key of %s" % tid)
                self.assertEqual(msg["title"], tid)
                headers = msg["headers"]["allOf"][1]["properties"]
                self.assertEqual(headers["x-airmeet-trigger"], {"const": tid})
                r = self.srv.public("GET", "/platform-integration/v1/sample-payload",
                                    headers=t.key_headers(),
                                    query={"triggerMetaInfoId": tid})
                self.assertEqual(r.status, 200, repr(r))
                sample = r.json["payload"]
                schema = msg["payload"]
                self.assertEqual(validate(schema, sample), [], "sample of %s" % tid)
                self.assertEqual(undeclared(sample, schema), [],
                                 "fields of %s's sample that docs/asyncapi.yaml does not "
                                 "declare" % tid)


class AsyncApiDeliveryTest(DeliveryTestCase):
    def test_deliveries_fit_their_messages(self):
        """One delivery per payload schema, its data the trigger's sample."""
        doc = load_asyncapi()
        t = self.srv.make_tenant()
        done = set()
        for tid, _, msg in asyncapi_channels(doc):
            kind = json.dumps(msg["payload"], sort_keys=True)
            if kind in done:
                continue
            done.add(kind)
            with self.subTest(trigger=tid):
                scope = doc["channels"][tid.replace(".", "_")]["x-airhook-trigger"]
                airmeet = t.airmeet_id if scope["airmeetId"] == "required" else None
                hook = self.hook(t, trigger=tid, airmeet_id=airmeet)
                r = self.srv.public("GET", "/platform-integration/v1/sample-payload",
                                    headers=t.key_headers(), query={"triggerMetaInfoId": tid})
                sample = r.json["payload"]
                ev = self.publish(t, trigger=tid, data=sample, airmeet_id=airmeet)
                (rec,) = self.wait_received(1, event_id=ev["eventId"])
                schema = copy.deepcopy(msg["headers"])
                names = {}
                for part in schema["allOf"]:
                    for name in part.get("properties", {}):
                        names[name.lower()] = name
                headers = {names.get(k, k): v for k, v in rec.headers.items()}
                self.assertEqual(validate(schema, headers), [], "headers of %s" % tid)
                self.assertEqual(headers["x-airmeet-webhook-id"], hook["id"])
                body = json.loads(rec.body.decode("utf-8"))
                self.assertEqual(body, sample)
                self.assertEqual(validate(msg["payload"], body), [], "body of %s" % tid)


if __name__ == "__main__":
    unittest.main()

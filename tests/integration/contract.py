# SPDX-License-Identifier: MIT
"""The drift check: every answer the integration suite gets must fit docs/openapi.yaml.

harness.Server.request() hands each answer here (record()): its method, its
path (the server's --base-path written as the document's /prod), status,
headers and body.  Each is checked at once against the document (through
docs/openapi.json, which `make contracts` holds equal to the YAML; no YAML
parser is needed here), and run.py prints what failed after the suite and
counts it as a failure:

- the path and method are matched to an operation's path template; the
  operation must list the status (an operation/status the document lacks
  fails), its content type must be one the document gives for it, and a
  JSON body must validate against that schema (JSON Schema 2020-12, as
  OpenAPI 3.1 says; python3-jsonschema), which names the failing JSON path.
  The response schemas are strict (additionalProperties: false), so a field
  a handler adds and the document does not declare fails here.  A header
  the response declares (Retry-After, ETag) must be present;
- an answer to a path or method the document does not describe (an unknown
  path, a wrong method) must be an error, 4xx or 5xx, in the error shape of
  the API the path falls in: a success there is a route the document lacks;
- HEAD answers (no body) and non-JSON answers outside described operations
  (the HTTP library's own HTML refusals) are not checked.

A problem is reported once per operation, status and failure, with how
often it was seen and the first request that showed it.
"""

import copy
import json
import os
import re
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
DOC_PATH = os.path.join(HERE, "..", "..", "docs", "openapi.json")
DOC_BASE_PATH = "/prod"
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


def _deref(node, doc, seen=()):
    """node with every local $ref replaced by (a copy of) its target; siblings kept via allOf."""
    if isinstance(node, list):
        return [_deref(x, doc, seen) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node and isinstance(node["$ref"], str):
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise ValueError("contract.py resolves local, non-recursive $refs only: %s" % ref)
        target = doc
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        resolved = _deref(copy.deepcopy(target), doc, seen + (ref,))
        siblings = {k: _deref(v, doc, seen) for k, v in node.items() if k != "$ref"}
        if not siblings:
            return resolved
        if isinstance(resolved, dict) and "content" in resolved:  # a response object
            merged = dict(resolved)
            merged.update(siblings)
            return merged
        return dict(siblings, allOf=[resolved])
    return {k: _deref(v, doc, seen) for k, v in node.items()}


def _json_path(error):
    out = "$"
    for p in error.absolute_path:
        out += "[%d]" % p if isinstance(p, int) else ".%s" % p
    return out


_NOT_JSON = object()  # what _json answers for a body that is not JSON (null is JSON)

class Contract:
    def __init__(self, path=DOC_PATH):
        import jsonschema  # python3-jsonschema (Debian); only the drift check needs it

        self._validator_cls = jsonschema.Draft202012Validator
        with open(path, encoding="utf-8") as f:
            self.doc = json.load(f)
        self.ops = []  # (regex, template, method, operation)
        for template, item in self.doc["paths"].items():
            rx = re.escape(template)
            # The console's pages: a last parameter named path is the rest of the path (/ui/{path}).
            rx = re.sub(r"\\\{path\\\}$", ".*", rx)
            rx = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", rx) + "$"
            for method in METHODS:
                op = item.get(method)
                if op is None:
                    continue
                self.ops.append((re.compile(rx), template, method.upper(), _deref(op, self.doc)))
        # Templates without parameters first, so a literal path wins over a pattern.
        self.ops.sort(key=lambda o: o[1].count("{"))
        schemas = self.doc["components"]["schemas"]
        self.error_shapes = {
            "admin": self._validator({"anyOf": [_deref(schemas["AdminError"], self.doc),
                                                _deref(schemas["PublicError"], self.doc)]}),
            "public": self._validator(_deref(schemas["PublicError"], self.doc)),
        }
        self._validators = {}
        self._lock = threading.Lock()
        self.problems = {}  # (where, status, what) -> [count, first request]
        self.checked = 0
        self.seen = {}  # (template, method) -> set of statuses

    def _validator(self, schema):
        self._validator_cls.check_schema(schema)
        return self._validator_cls(schema)

    def _problem(self, where, status, what, request):
        key = (where, status, what)
        with self._lock:
            entry = self.problems.setdefault(key, [0, request])
            entry[0] += 1

    def match(self, method, path):
        """(template, operation or None) for the request; (None, None) when no path matches."""
        path_known = None
        for rx, template, m, op in self.ops:
            if rx.match(path):
                if m == method:
                    return template, op
                path_known = path_known or template
        return path_known, None

    def record(self, method, target, status, headers, body, base_path="/prod"):
        """Checks one answer; headers is a list of (name, value)."""
        method = method.upper()
        if method == "HEAD":
            return
        path = target.split("?", 1)[0]
        if base_path != DOC_BASE_PATH and (path == base_path or path.startswith(base_path + "/")):
            path = DOC_BASE_PATH + path[len(base_path):]
        request = "%s %s" % (method, target[:160])
        hdrs = {k.lower(): v for k, v in headers}
        ctype = hdrs.get("content-type", "")
        is_json = ctype.split(";")[0].strip() == "application/json"
        template, op = self.match(method, path)
        with self._lock:
            self.checked += 1
            if op is not None:
                self.seen.setdefault((template, method), set()).add(status)
        if op is None:
            self._undescribed(method, path, template, status, is_json, body, request)
            return
        where = "%s %s (%s)" % (method, template, op.get("operationId", "?"))
        responses = op.get("responses", {})
        resp = responses.get(str(status)) or responses.get("%dXX" % (status // 100)) \
            or responses.get("default")
        if resp is None:
            self._problem(where, status, "status %d is not among the operation's responses (%s)"
                          % (status, ", ".join(sorted(responses))), request)
            return
        for name in resp.get("headers", {}):
            if name.lower() not in hdrs:
                self._problem(where, status, "header %s is declared but missing" % name, request)
        content = resp.get("content")
        if not content:
            if body:
                self._problem(where, status, "a body where the document declares none", request)
            return
        media = self._media(content, ctype)
        if media is None:
            self._problem(where, status, "Content-Type %r is not one of %s"
                          % (ctype, ", ".join(sorted(content))), request)
            return
        if not is_json:
            return
        value = self._json(body, where, status, request)
        if value is _NOT_JSON:
            return
        schema = content[media].get("schema")
        if schema is None:
            return
        key = (template, method, str(status), media)
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validator(schema)
            self._validators[key] = validator
        self._check(validator, value, where, status, request)

    def _json(self, body, where, status, request):
        """The body's JSON value, or _NOT_JSON (said as a problem)."""
        try:
            return json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            self._problem(where, status, "the body is not JSON", request)
            return _NOT_JSON

    @staticmethod
    def _media(content, ctype):
        if ctype in content:
            return ctype
        base = ctype.split(";")[0].strip()
        for media in content:
            if media.split(";")[0].strip() == base:
                return media
        return None

    def _check(self, validator, value, where, status, request):
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        for e in errors[:3]:
            detail = e.message
            if len(detail) > 300:
                detail = detail[:300] + "…"
            self._problem(where, status, "at %s: %s" % (_json_path(e), detail), request)

    def _undescribed(self, method, path, template, status, is_json, body, request):
        where = "%s %s (not in docs/openapi.yaml%s)" % (
            method, template or path, ", path known" if template else "")
        if status < 400:
            self._problem(where, status, "the server answered %d: a route the document does "
                          "not describe" % status, request)
            return
        if not is_json:
            return
        value = self._json(body, where, status, request)
        if value is _NOT_JSON:
            return
        api = "admin" if path == "/admin/v1" or path.startswith("/admin/v1/") else "public"
        self._check(self.error_shapes[api], value, where, status, request)

    def report(self):
        """Lines describing every problem (empty when there is none)."""
        lines = []
        for (where, status, what), (count, request) in sorted(self.problems.items()):
            lines.append("%s -> %d: %s  [%d time%s; first: %s]"
                         % (where, status, what, count, "" if count == 1 else "s", request))
        return lines

    def coverage(self):
        """Operations the suite never got an answer from."""
        described = [(t, m) for _, t, m, _ in self.ops]
        return [("%s %s" % (m, t)) for t, m in described if (t, m) not in self.seen]


_contract = None
_contract_error = None


def get():
    """The process's Contract, loaded once; None (with error()) when it cannot be."""
    global _contract, _contract_error
    if _contract is None and _contract_error is None:
        try:
            _contract = Contract()
        except Exception as e:  # reported by run.py as a failure, not a crash mid-test
            _contract_error = "%s: %s" % (type(e).__name__, e)
    return _contract


def error():
    return _contract_error


def record(method, target, status, headers, body, base_path="/prod"):
    c = get()
    if c is not None:
        c.record(method, target, status, headers, body, base_path)

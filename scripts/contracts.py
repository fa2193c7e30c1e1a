#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The contract documents' generators (python3 and python3-yaml).

    python3 scripts/contracts.py openapi-json        # writes docs/openapi.json
    python3 scripts/contracts.py asyncapi-channels   # rewrites docs/asyncapi.yaml's channels
    python3 scripts/contracts.py check               # fails when either is stale

docs/openapi.yaml is the OpenAPI document people edit; the server answers it
as JSON at GET /openapi.json, compiled in from docs/openapi.json (the build
needs no YAML tool, so the JSON is kept in the tree).  The JSON is indented
(diffs of it stay readable) and keeps the YAML's key order; YAML anchors and
merge keys are resolved.

docs/asyncapi.yaml has one channel, one send operation and one message per
trigger of the built-in catalog (data/triggers.json): those three blocks,
between the BEGIN/END generated markers, are written from the catalog (its
ids, when each fires, its scope rules) and PAYLOADS below, which names each
trigger's payload schema; the schemas themselves (components.schemas) are
written by hand.  A trigger PAYLOADS lacks stops `asyncapi-channels` and
`check`: add its schema and its line here.

`check`, run by `make contracts`, fails with a diff's first lines when
docs/openapi.json or the generated blocks of docs/asyncapi.yaml are not
exactly what the two commands would write.
"""

import difflib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YAML_PATH = os.path.join(ROOT, "docs", "openapi.yaml")
JSON_PATH = os.path.join(ROOT, "docs", "openapi.json")
ASYNCAPI_PATH = os.path.join(ROOT, "docs", "asyncapi.yaml")
CATALOG_PATH = os.path.join(ROOT, "data", "triggers.json")

# Each built-in trigger's payload schema (docs/asyncapi.yaml, components.schemas).
PAYLOADS = {
    "trigger.airmeet.created": "AirmeetLifecycle",
    "trigger.airmeet.started": "AirmeetLifecycle",
    "trigger.airmeet.finished": "AirmeetLifecycle",
    "trigger.airmeet.reminder": "AirmeetLifecycle",
    "trigger.airmeet.recording.available": "RecordingAvailable",
    "trigger.airmeet.attendee.added": "Registration",
    "trigger.airmeet.registrant.added": "Registration",
    "trigger.airmeet.attendee.joined": "AttendeeJoined",
    "trigger.session.attendee.joined": "SessionAttendeeJoined",
    "trigger.airmeet.polls": "PollAnswered",
    "trigger.airmeet.questions": "QuestionAsked",
    "trigger.attendee.booth.joined": "BoothJoined",
    "trigger.attendee.entered_airmeet": "AttendeeEntered",
    "trigger.attendee.clicked_cta": "CtaClicked",
    "trigger.attendee.engagement_score": "EngagementScore",
    "trigger.leaderboard.scoreboard": "Leaderboard",
    "trigger.attendee.joined_stage": "SessionAttendeeJoined",
    "trigger.attendee.joined_booth": "BoothJoined",
    "trigger.attendee.joined_table": "TableJoined",
    "trigger.attendee.joined_session": "SessionAttendeeJoined",
    "trigger.attendee.opened_resource": "ResourceOpened",
    "trigger.attendee.ondemand_session_attendance": "OnDemandAttendance",
}

BEGIN = "# BEGIN generated from data/triggers.json by `make asyncapi-channels`: do not edit"
END = "# END generated from data/triggers.json"


def load_yaml(path):
    try:
        import yaml
    except ImportError:
        sys.exit("contracts.py: python3-yaml is missing (apt-get install python3-yaml)")

    # YAML 1.1 reads 'on'/'yes' as booleans and a bare 2020-01-01 as a date;
    # every value the documents mean as text is quoted, but dates must stay text.
    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=Loader)


def openapi_json_text():
    doc = load_yaml(YAML_PATH)
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def q(text):
    """text as a YAML double-quoted scalar (JSON's string syntax is YAML's)."""
    return json.dumps(text, ensure_ascii=False)


def asyncapi_blocks():
    """The three generated blocks of docs/asyncapi.yaml: channels, operations, messages."""
    with open(CATALOG_PATH, encoding="utf-8") as f:
        triggers = json.load(f)["triggers"]
    missing = [t["id"] for t in triggers if t["id"] not in PAYLOADS]
    stale = sorted(set(PAYLOADS) - {t["id"] for t in triggers})
    if missing or stale:
        sys.exit("contracts.py: PAYLOADS names no payload schema for %s%s%s; edit "
                 "scripts/contracts.py (and docs/asyncapi.yaml's components.schemas)"
                 % (", ".join(missing) or "-", "; and triggers the catalog lacks: " if stale
                    else "", ", ".join(stale)))
    channels, operations, messages = [], [], []
    for t in triggers:
        tid, key = t["id"], t["id"].replace(".", "_")
        scope = "airmeetId %s, sessionId %s" % (t["airmeetId"], t["sessionId"])
        channels += [
            "  %s:" % key,
            "    x-airhook-trigger: {id: %s, airmeetId: %s, sessionId: %s}"
            % (tid, t["airmeetId"], t["sessionId"]),
            "    title: %s" % tid,
            "    description: %s" % q("%s Sent to the url of every active webhook registered for "
                                      "%s whose scope matches the event's (%s)."
                                      % (t["firesWhen"], tid, scope)),
            "    messages:",
            "      delivery: {$ref: '#/components/messages/%s'}" % key,
        ]
        operations += [
            "  send_%s:" % key,
            "    action: send",
            "    title: Deliver %s" % tid,
            "    channel: {$ref: '#/channels/%s'}" % key,
            "    messages:",
            "      - $ref: '#/channels/%s/messages/delivery'" % key,
            "    bindings:",
            "      http: {method: POST}",
        ]
        messages += [
            "    %s:" % key,
            "      name: %s" % key,
            "      title: %s" % tid,
            "      summary: %s" % q(t["firesWhen"]),
            "      contentType: application/json",
            "      headers:",
            "        allOf:",
            "          - $ref: '#/components/schemas/DeliveryHeaders'",
            "          - type: object",
            "            properties:",
            "              x-airmeet-trigger: {const: %s}" % tid,
            "      payload: {$ref: '#/components/schemas/%s'}" % PAYLOADS[tid],
        ]
    return channels, operations, messages


def asyncapi_text():
    """docs/asyncapi.yaml with its generated blocks as the catalog says."""
    with open(ASYNCAPI_PATH, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out, blocks = [], list(asyncapi_blocks())
    i = 0
    while i < len(lines):
        out.append(lines[i])
        if lines[i].strip() != BEGIN:
            i += 1
            continue
        if not blocks:
            sys.exit("contracts.py: docs/asyncapi.yaml has more than three generated blocks")
        out += blocks.pop(0)
        i += 1
        while i < len(lines) and lines[i].strip() != END:
            i += 1
        if i == len(lines):
            sys.exit("contracts.py: docs/asyncapi.yaml: a BEGIN marker without its END")
    if blocks:
        sys.exit("contracts.py: docs/asyncapi.yaml lacks its generated blocks' markers "
                 "(channels, operations, components.messages)")
    return "\n".join(out)


def stale(path, have_name, want, cmd):
    """0 when path holds want; else prints a diff's first lines and returns 1."""
    try:
        with open(path, encoding="utf-8") as f:
            have = f.read()
    except FileNotFoundError:
        have = ""
    if have == want:
        print("contracts.py: %s is up to date" % have_name)
        return 0
    diff = difflib.unified_diff(have.splitlines(), want.splitlines(), have_name,
                                "as generated", lineterm="")
    print("contracts.py: %s is stale; run `python3 scripts/contracts.py %s` and commit it:"
          % (have_name, cmd))
    for i, line in enumerate(diff):
        if i >= 40:
            print("…")
            break
        print(line)
    return 1


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "openapi-json":
        with open(JSON_PATH, "w", encoding="utf-8") as f:
            f.write(openapi_json_text())
        print("contracts.py: wrote docs/openapi.json from docs/openapi.yaml")
        return 0
    if cmd == "asyncapi-channels":
        text = asyncapi_text()
        with open(ASYNCAPI_PATH, "w", encoding="utf-8") as f:
            f.write(text)
        print("contracts.py: wrote docs/asyncapi.yaml's channels from data/triggers.json")
        return 0
    if cmd == "check":
        bad = stale(JSON_PATH, "docs/openapi.json", openapi_json_text(), "openapi-json")
        bad += stale(ASYNCAPI_PATH, "docs/asyncapi.yaml", asyncapi_text(), "asyncapi-channels")
        return 1 if bad else 0
    print(__doc__.strip())
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

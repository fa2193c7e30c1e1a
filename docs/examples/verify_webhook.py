# SPDX-License-Identifier: MIT
"""Verify an airhook (Standard Webhooks) signature with Python's standard library.

    from verify_webhook import verify
    verify(secret, request_headers, raw_body_bytes)   # raises ValueError if forged

`secret` is the webhook's "whsec_..." secret (from webhook-register's response
or the admin API's rotate-secret); `request_headers` maps lowercase header
names to values; `raw_body_bytes` is the body exactly as received.
"""
import base64
import hashlib
import hmac
import time

TOLERANCE_S = 300  # reject timestamps more than 5 minutes away (replays)


def verify(secret, headers, body, now=None):
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if abs((now or time.time()) - int(timestamp)) > TOLERANCE_S:
        raise ValueError("timestamp outside tolerance")
    key = base64.b64decode(secret[len("whsec_"):])
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # While a rotated secret overlaps there are several "v1,<sig>", space-separated.
    for candidate in headers["webhook-signature"].split(" "):
        version, _, sig = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    raise ValueError("no matching signature")

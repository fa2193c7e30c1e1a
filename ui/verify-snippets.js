// SPDX-License-Identifier: MIT
// The signature-verification snippets the Verify page shows, as plain
// strings (no DOM here): tests/browser/snippets.test.mjs imports this file
// and runs the Node, Python and C ones on a delivery airhook really sent.

export const snippets = [
  {
    lang: 'Node',
    file: 'verify-webhook.js',
    note: 'Node 16 or later, no package needed. Pass the raw body (a Buffer, before JSON.parse): with Express, express.raw({ type: "application/json" }).',
    code: `const crypto = require('node:crypto');

// Throws unless the delivery is genuine and fresh (Standard Webhooks).
// secret: the webhook's signing secret, "whsec_…"
// headers: the request's headers, lower-case names (req.headers in Node)
// body: the raw body, exactly as received (Buffer or string)
function verifyWebhook(secret, headers, body) {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures) throw new Error('missing webhook-* headers');
  if (!/^[0-9]+$/.test(timestamp)) throw new Error('bad webhook-timestamp');
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = crypto.createHmac('sha256', key)
    .update(\`\${id}.\${timestamp}.\`).update(body).digest();
  const ok = signatures.split(' ').some((entry) => {
    const [version, sig] = entry.split(',');
    if (version !== 'v1' || !sig) return false;
    const got = Buffer.from(sig, 'base64');
    return got.length === expected.length && crypto.timingSafeEqual(got, expected);
  });
  if (!ok) throw new Error('no valid signature: check the secret');
  const age = Math.floor(Date.now() / 1000) - Number(timestamp);
  if (Math.abs(age) > 5 * 60) throw new Error('timestamp outside the 5-minute tolerance');
}

module.exports = { verifyWebhook };
`,
  },
  {
    lang: 'Python',
    file: 'verify_webhook.py',
    note: 'Python 3.9 or later, standard library only. Pass the raw body bytes (Flask: request.get_data(); Django: request.body).',
    code: `import base64
import hashlib
import hmac
import time


def verify_webhook(secret: str, headers, body: bytes) -> None:
    """Raise ValueError unless the delivery is genuine and fresh.

    secret: the webhook's signing secret, "whsec_..."
    headers: the request's headers (a case-insensitive mapping, or a dict
             with lower-case names)
    body: the raw body bytes, exactly as received
    """
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise ValueError("missing webhook-* headers")
    if not timestamp.isdigit():
        raise ValueError("bad webhook-timestamp")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    for entry in signatures.split(" "):
        version, _, sig = entry.partition(",")
        if version != "v1" or not sig:
            continue
        try:
            got = base64.b64decode(sig, validate=True)
        except ValueError:
            continue
        if hmac.compare_digest(got, expected):
            break
    else:
        raise ValueError("no valid signature: check the secret")
    if abs(time.time() - int(timestamp)) > 5 * 60:
        raise ValueError("timestamp outside the 5-minute tolerance")
`,
  },
  {
    lang: 'Go',
    file: 'verifywebhook.go',
    note: 'Standard library only. Read the body with io.ReadAll(r.Body) before decoding it.',
    code: `package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Verify returns nil when the delivery is genuine and fresh (Standard
// Webhooks). secret is the webhook's signing secret, "whsec_…"; body the
// raw body, exactly as received.
func Verify(secret string, h http.Header, body []byte) error {
	id := h.Get("webhook-id")
	ts := h.Get("webhook-timestamp")
	sigs := h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-* headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec < 0 {
		return errors.New("bad webhook-timestamp")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return errors.New("bad secret: not whsec_ + base64")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	expected := mac.Sum(nil)
	ok := false
	for _, entry := range strings.Split(sigs, " ") {
		version, sig, found := strings.Cut(entry, ",")
		if !found || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, expected) {
			ok = true
			break
		}
	}
	if !ok {
		return errors.New("no valid signature: check the secret")
	}
	age := time.Now().Unix() - sec
	if age > 300 || age < -300 {
		return errors.New("timestamp outside the 5-minute tolerance")
	}
	return nil
}
`,
  },
  {
    lang: 'C',
    file: 'verify_webhook.c',
    note: 'With airhook\'s own libairhook-verify (docs/verify.md; needs OpenSSL\'s libcrypto). Build: cc verify_webhook.c your_server.c $(pkg-config --cflags --libs airhook-verify)',
    code: `#include <stdio.h>
#include <airhook/verify.h>

/* 1 when the delivery is genuine and fresh (5-minute tolerance), else 0:
 * then answer 401 and do not act on the body.  id, timestamp, signature:
 * the webhook-id, webhook-timestamp and webhook-signature header values as
 * received (NULL when missing); body: the raw body, exactly as received. */
int verify_webhook(const char *secret, const char *id, const char *timestamp,
                   const char *signature, const void *body, size_t len)
{
    int r = ah_webhook_verify(secret, id, timestamp, signature, body, len);
    if (r != AH_WEBHOOK_OK) {
        fprintf(stderr, "webhook rejected: %s\\n", ah_webhook_strerror(r));
        return 0;
    }
    return 1;
}
`,
  },
];

// SPDX-License-Identifier: MIT
// sign.mjs: the other direction of the interop check: deliveries signed by
// the Standard Webhooks reference library (the `standardwebhooks` npm
// package), for libairhook-verify to check (check_verify.c).
//
// Usage: node sign.mjs OUTDIR
// Writes OUTDIR/<name>.json, each {"secret", "headers": {webhook-id,
// webhook-timestamp, webhook-signature}, "body", "now", "expect"}: "expect"
// is the result the C library must give (ok, bad_signature, too_old,
// too_new); "now" is the clock to verify at.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";

const outdir = process.argv[2];
if (!outdir) {
  console.error("usage: node sign.mjs OUTDIR");
  process.exit(2);
}

const secret = "whsec_" + randomBytes(24).toString("base64");
const other = "whsec_" + randomBytes(32).toString("base64");
const now = Math.floor(Date.now() / 1000);

function write(name, { key = secret, signWith = secret, id = "msg_" + randomBytes(8).toString("hex"),
  ts = now, body, sentBody = body, sentId = id, sentTs = ts, extra = "", at = now, expect }) {
  const sig = new Webhook(signWith).sign(id, new Date(ts * 1000), body);
  const sample = {
    secret: key,
    headers: {
      "webhook-id": sentId,
      "webhook-timestamp": String(sentTs),
      "webhook-signature": extra ? `${extra} ${sig}` : sig,
    },
    body: sentBody,
    now: at,
    expect,
  };
  writeFileSync(join(outdir, `${name}.json`), JSON.stringify(sample, null, 2));
}

const ascii = JSON.stringify({ trigger: "trigger.airmeet.created", airmeetId: "a1", n: 1 });
const unicode = '{"name":"Renée 東京 🎉","quote":"\\"hi\\"\\n","sep":"\u2028"}';
let big = '{"items":[';
for (let i = 0; big.length < 100 * 1024; i++) big += (i ? "," : "") + `{"i":${i},"s":"item-${i}"}`;
big += "]}";

write("ascii", { body: ascii, expect: "ok" });
write("unicode", { body: unicode, expect: "ok" });
write("empty_object", { body: "{}", expect: "ok" });
write("large_100k", { body: big, expect: "ok" });
write("long_key", { key: other, signWith: other, body: ascii, expect: "ok" });
write("with_decoys", { body: ascii, extra: "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc", expect: "ok" });
write("edge_of_tolerance", { body: ascii, ts: now - 300, expect: "ok" });
write("published_vector", {
  key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", signWith: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek", ts: 1614265330, at: 1614265330, body: '{"test": 2432232314}',
  expect: "ok",
});

write("bad_body", { body: ascii, sentBody: ascii.replace('"n":1', '"n":2'), expect: "bad_signature" });
write("bad_id", { body: ascii, id: "msg_a", sentId: "msg_b", expect: "bad_signature" });
write("bad_timestamp", { body: ascii, sentTs: now - 1, expect: "bad_signature" });
write("bad_secret", { body: ascii, signWith: other, expect: "bad_signature" });
write("too_old", { body: ascii, ts: now - 301, expect: "too_old" });
write("too_new", { body: ascii, ts: now + 301, expect: "too_new" });

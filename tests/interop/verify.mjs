// SPDX-License-Identifier: MIT
// verify.mjs: verifies one or more sample deliveries with the Standard
// Webhooks reference library, as a receiver would.
//
// Usage: node verify.mjs SAMPLE.json [...]
// A sample is {"secret": "whsec_…", "headers": {"webhook-id", "webhook-timestamp",
// "webhook-signature"}, "body": "<the exact body string>"} and may carry
// "now" (unix seconds) to pin the clock, for replaying captured deliveries
// older than the library's 5-minute tolerance.
// Exits 0 when every sample verifies, 1 (printing the error) otherwise.
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node verify.mjs SAMPLE.json [...]");
  process.exit(2);
}

const realNow = Date.now;
let failed = 0;
for (const file of files) {
  try {
    const sample = JSON.parse(readFileSync(file, "utf8"));
    if (typeof sample.body !== "string") throw new Error("sample.body must be a string");
    Date.now = typeof sample.now === "number" ? () => sample.now * 1000 : realNow;
    new Webhook(sample.secret).verify(sample.body, sample.headers);
    console.log(`ok ${file}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${file}: ${e && e.name ? e.name + ": " : ""}${e && e.message ? e.message : e}`);
  } finally {
    Date.now = realNow;
  }
}
process.exit(failed ? 1 : 0);

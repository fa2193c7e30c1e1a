// SPDX-License-Identifier: MIT
// The integrator portal, end to end (tests/browser/run.sh): a real airhook
// that may deliver to 127.0.0.1 and a real receiver in this process.  The
// integrator registers a webhook, sends it a test event, finds the delivery
// and its attempt in the log, replays it, rotates the secret; a receiver
// answering HTML shows it as text; a read-only portal link has no control
// that changes anything; another community's ids get a readable "not
// found".  And the Verify page's Node, Python, Go and C snippets are run on a
// delivery airhook signed (ui/verify-snippets.js is what the page shows).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { snippets } from '../../ui/verify-snippets.js';
import { harness, shot, shotAndPhone, until, BINARY } from './harness.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ADMIN = 'browser-test-admin-token';
const EVIL = '<img src=x onerror=alert(1)>';
const received = []; // { path, headers, body: Buffer }
let switchCode = 200; // what /hooks/switch answers
const h = harness({
  admin: ADMIN, prefix: 'airhook-portal-', flags: ['--auth-fail-limit', '1000', '--allow-private-targets'],
  receiver: (req, res, body) => {
    received.push({ path: req.url, headers: req.headers, body });
    if (req.url.startsWith('/hooks/switch')) {
      res.writeHead(switchCode, { 'Content-Type': 'text/plain' });
      res.end(`answered ${switchCode}`);
    } else if (req.url.startsWith('/hooks/html')) {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(`<html><body>${EVIL}<script>alert(2)</script><b>bold</b></body></html>`);
    } else {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
    }
  },
});
const { adminApi, watchedPage, signInIntegrator } = h;

// A community with a key pair; register() and sendTest() act as its integrator over the public API.
async function community(name) {
  const c = (await adminApi('POST', '/communities', { name })).body;
  const key = (await adminApi('POST', `/communities/${c.id}/access-keys`, { label: 'k' })).body;
  const auth = await fetch(`${h.base}/prod/auth`, { method: 'POST', headers: { 'X-Airmeet-Access-Key': key.accessKey, 'X-Airmeet-Secret-Key': key.secretKey } });
  const token = (await auth.json()).token;
  return {
    id: c.id, key,
    register: (hookName, url) => h.registerWebhook(key, hookName, url),
    async sendTest(webhookId) {
      const r = await fetch(`${h.base}/prod/airhook/v1/webhooks/${webhookId}/test`, { method: 'POST', headers: { 'X-Airmeet-Access-Token': token } });
      assert.equal(r.status, 202);
      return r.json();
    },
  };
}

test('the integrator registers a webhook, tests it, finds the attempt in the log, replays it and rotates the secret', async () => {
  const c = await community('Receiver Co');
  const { context, page, problems } = await watchedPage();
  await signInIntegrator(page, c.key);
  for (const name of ['Triggers', 'Webhooks', 'Deliveries', 'Verify signatures'])
    await page.getByRole('navigation').getByRole('link', { name, exact: true }).waitFor();
  await page.getByRole('navigation').getByRole('link', { name: 'Deliveries' }).click();
  await page.getByText('register a webhook on the Webhooks page first').waitFor();
  await page.getByRole('navigation').getByRole('link', { name: 'Webhooks' }).click();
  await page.getByText('No webhooks yet').waitFor();
  await page.getByLabel('Trigger', { exact: true }).selectOption('trigger.airmeet.created');
  await page.getByLabel('Name', { exact: true }).fill('HTML receiver');
  await page.getByLabel('URL', { exact: true }).fill(`${h.rbase}/hooks/html`);
  await page.getByRole('button', { name: 'Register webhook' }).click();
  const secret = await page.getByTestId('signing-secret').textContent();
  assert.match(secret, /^whsec_/);
  await page.getByRole('cell', { name: 'no attempt yet' }).waitFor();

  // Send a test event: the attempt lands and the HTML the receiver answered is text.
  await page.getByRole('button', { name: 'Send test event to HTML receiver' }).click();
  await page.getByText('Test delivery to “HTML receiver”: succeeded.').waitFor();
  const bodyText = await page.getByTestId('response-body').first().textContent();
  assert.ok(bodyText.includes(EVIL), bodyText);
  assert.equal(await page.locator('main img').count(), 0);
  assert.equal(await page.locator('main script').count(), 0);
  assert.equal(received.filter((r) => r.path === '/hooks/html').length, 1);
  await page.reload();
  await page.getByRole('cell', { name: /answered 200/ }).waitFor();
  await page.getByRole('cell', { name: '100 % of 1' }).waitFor();
  await shotAndPhone(page, 'portal-webhooks');

  // The delivery log has it; its page shows the attempt; Replay makes attempt 2.
  await page.getByRole('navigation').getByRole('link', { name: 'Deliveries' }).click();
  await page.getByRole('heading', { name: 'Deliveries' }).waitFor();
  await page.getByRole('cell', { name: 'HTML receiver' }).waitFor();
  await page.getByRole('cell', { name: 'succeeded' }).waitFor();
  await shot(page, 'portal-deliveries');
  await page.getByRole('link', { name: /^Delivery / }).first().click();
  await page.getByRole('heading', { name: 'Attempt 1: answered 200' }).waitFor();
  await page.getByText('Request headers').click();
  await page.getByText('webhook-signature: v1,(redacted)').waitFor();
  assert.ok((await page.getByTestId('response-body').textContent()).includes(EVIL));
  assert.equal(await page.locator('main img').count(), 0);
  await page.getByRole('button', { name: 'Replay delivery' }).click();
  await page.getByText('Replayed: attempt 2 answered 200.').waitFor();
  await page.getByRole('heading', { name: 'Attempt 2: answered 200' }).waitFor();
  assert.equal(received.filter((r) => r.path === '/hooks/html').length, 2);
  await shotAndPhone(page, 'portal-delivery');

  // Rotate: the new secret once, the old one's overlap said.
  await page.getByRole('navigation').getByRole('link', { name: 'Webhooks' }).click();
  await page.getByRole('button', { name: 'Rotate signing secret of HTML receiver' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Rotate signing secret' }).click();
  const rotated = await page.getByTestId('rotated-secret').textContent();
  assert.match(rotated, /^whsec_/);
  assert.notEqual(rotated, secret);
  await page.getByText(/The old secret stays valid until/).waitFor();
  await page.getByRole('button', { name: 'Copy signing secret' }).waitFor();

  // The keyboard alone reaches "Send test event" and uses it.
  await page.getByRole('button', { name: 'Send test event to HTML receiver' }).focus();
  await page.keyboard.press('Enter');
  await page.getByText('Test delivery to “HTML receiver”: succeeded.').waitFor();

  await page.getByRole('navigation').getByRole('link', { name: 'Verify signatures' }).click();
  for (const lang of ['Node', 'Python', 'Go', 'C']) await page.getByRole('heading', { name: lang, exact: true }).waitFor();
  await page.getByRole('button', { name: 'Copy Python snippet' }).waitFor();
  await shot(page, 'portal-verify');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a receiver answering 500 shows in the webhook and the attempt; once it is fixed, Replay delivers', async () => {
  const c = await community('Flaky Co');
  await c.register('Flaky hook', `${h.rbase}/hooks/switch`);
  switchCode = 500;
  const { context, page, problems } = await watchedPage();
  try {
    await signInIntegrator(page, c.key);
    await page.getByRole('navigation').getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('button', { name: 'Send test event to Flaky hook' }).click();
    await page.getByText('Test delivery to “Flaky hook”: pending.').waitFor();
    await page.getByRole('heading', { name: 'Attempt 1: answered 500' }).waitFor();
    assert.equal(await page.getByTestId('response-body').first().textContent(), 'answered 500');
    await page.reload();
    await page.getByRole('cell', { name: /answered 500/ }).waitFor();
    await page.getByRole('cell', { name: '0 % of 1' }).waitFor();
    switchCode = 200;
    await page.getByRole('link', { name: 'Deliveries of Flaky hook' }).click();
    await page.getByRole('cell', { name: 'pending' }).waitFor();
    await page.getByRole('link', { name: /^Delivery / }).first().click();
    await page.getByRole('heading', { name: 'Attempt 1: answered 500' }).waitFor();
    await page.getByRole('button', { name: 'Replay delivery' }).click();
    // The scheduled retry (5 s) may come first; either way the newest attempt is a 200.
    await page.getByText(/^Replayed: attempt \d answered 200\.$/).waitFor();
    assert.deepEqual(problems, []);
  } finally {
    switchCode = 200;
    await context.close();
  }
});

test('a read-only portal link shows no control that changes anything', async () => {
  const c = await community('Read Only Co');
  const w = await c.register('Watched hook', `${h.rbase}/hooks/ok`);
  const t = await c.sendTest(w.id);
  await until('the test attempt', async () => (await adminApi('GET', `/deliveries/${t.deliveryId}`)).body.attempts.length > 0);
  const link = (await adminApi('POST', `/communities/${c.id}/portal-links`, { readOnly: true })).body;
  const { context, page, problems } = await watchedPage();
  await page.goto(link.url.replace(/^https?:\/\/[^/]+/, h.base));
  await page.getByText('Integrator · Read Only Co (read-only)').waitFor();
  // Buttons that only look or move around; anything else would change something.
  const harmless = /^(Sign out|Show webhooks|Apply filters|Previous page|Next page|Copy .* snippet)$/;
  async function changing() {
    const names = await page.locator('button, input[type=submit]').evaluateAll((els) => els.map((e) => e.textContent.trim() || e.value));
    return names.filter((n) => !harmless.test(n));
  }
  await page.getByRole('navigation').getByRole('link', { name: 'Webhooks' }).click();
  await page.getByRole('cell', { name: 'Watched hook', exact: true }).waitFor();
  await page.getByText('This session is read-only').waitFor();
  assert.deepEqual(await changing(), []);
  assert.equal(await page.getByLabel('URL', { exact: true }).count(), 0);
  await page.getByRole('navigation').getByRole('link', { name: 'Deliveries' }).click();
  await page.getByRole('cell', { name: 'Watched hook' }).waitFor();
  assert.deepEqual(await changing(), []);
  await page.getByRole('link', { name: /^Delivery / }).first().click();
  await page.getByRole('heading', { name: 'Attempt 1: answered 200' }).waitFor();
  assert.deepEqual(await changing(), []);
  assert.equal(await page.getByRole('button', { name: 'Replay delivery' }).count(), 0);
  await page.getByRole('navigation').getByRole('link', { name: 'Verify signatures' }).click();
  await page.getByRole('heading', { name: 'Python', exact: true }).waitFor();
  assert.deepEqual(await changing(), []);
  assert.deepEqual(problems, []);
  await context.close();
});

test('an integrator cannot reach another community\'s webhook or delivery: the page says so', async () => {
  const mine = await community('Mine Co');
  const theirs = await community('Theirs Co');
  const w = await theirs.register('Their hook', `${h.rbase}/hooks/ok`);
  const t = await theirs.sendTest(w.id);
  const { context, page, problems } = await watchedPage();
  await signInIntegrator(page, mine.key);
  await page.goto(`${h.base}/ui/deliveries/${t.deliveryId}`);
  await page.getByRole('heading', { name: 'Delivery not found' }).waitFor();
  assert.match(await page.getByRole('alert').textContent(), /no delivery .* among your community's deliveries/);
  await page.goto(`${h.base}/ui/deliveries?webhookId=${w.id}`);
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.textContent(), /no webhook/);
  assert.doesNotMatch(await alert.textContent(), /[{}"]/);
  await page.goto(`${h.base}/ui/webhooks?`);
  await page.getByText('No webhooks yet').waitFor();
  assert.equal(await page.getByText('Their hook').count(), 0);
  // Every action on their ids is refused as unknown.
  const statuses = await page.evaluate(async ({ wid, did }) => {
    const s = await (await fetch('/ui/api/session')).json();
    const post = async (p) => (await fetch(s.basePath + p, { method: 'POST', headers: { 'X-CSRF-Token': s.csrfToken } })).status;
    return [
      await post(`/airhook/v1/webhooks/${wid}/test`),
      await post(`/airhook/v1/webhooks/${wid}/rotate-secret`),
      await post(`/airhook/v1/deliveries/${did}/retry`),
      (await fetch(`${s.basePath}/airhook/v1/deliveries/${did}`)).status,
    ];
  }, { wid: w.id, did: t.deliveryId });
  assert.deepEqual(statuses, [404, 404, 404, 404]);
  assert.deepEqual(problems, []);
  await context.close();
});

// Builds the Go snippet into a program that reads a case file (as the Node
// and Python runs do) and prints OK or REJECTED; null when there is no go
// command and this is not CI (CI must run it).
function buildGo(work, code) {
  const dir = join(work, 'go');
  mkdirSync(join(dir, 'webhook'), { recursive: true });
  writeFileSync(join(dir, 'go.mod'), 'module snippet\n\ngo 1.19\n');
  writeFileSync(join(dir, 'webhook', 'verifywebhook.go'), code);
  writeFileSync(join(dir, 'main.go'), `package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	"snippet/webhook"
)

func main() {
	var c struct {
		Secret  string            \`json:"secret"\`
		Headers map[string]string \`json:"headers"\`
		Body    string            \`json:"body"\`
	}
	raw, _ := os.ReadFile(os.Args[1])
	if err := json.Unmarshal(raw, &c); err != nil {
		panic(err)
	}
	body, _ := base64.StdEncoding.DecodeString(c.Body)
	h := http.Header{}
	for k, v := range c.Headers {
		h.Set(k, v)
	}
	if err := webhook.Verify(c.Secret, h, body); err != nil {
		fmt.Println("REJECTED", err)
		return
	}
	fmt.Println("OK")
}
`);
  const exe = join(work, 'verify-go');
  try {
    execFileSync('go', ['build', '-o', exe, '.'], {
      cwd: dir, stdio: 'pipe',
      env: { ...process.env, GOCACHE: join(work, 'gocache'), GOPATH: join(work, 'gopath'), GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', CGO_ENABLED: '0' },
    });
  } catch (e) {
    if (e.code === 'ENOENT' && process.env.CI !== 'true') return null;
    throw new Error(`go build of the Go snippet failed: ${e.stderr || e.message}`);
  }
  return exe;
}

// The Verify page's snippets, run on a delivery airhook signed.
test('the Node, Python, Go and C verification snippets accept a real delivery and refuse a forged one', async (t) => {
  const c = await community('Snippet Co');
  const w = await c.register('Snippet hook', `${h.rbase}/hooks/snippet`);
  await c.sendTest(w.id);
  const got = await until('the delivery', () => received.find((r) => r.path === '/hooks/snippet'));
  const work = mkdtempSync(join(tmpdir(), 'airhook-snippets-'));
  let goExe; // built once, on the first case
  try {
    const pick = (lang) => snippets.find((s) => s.lang === lang).code;
    const headers = {
      'webhook-id': got.headers['webhook-id'],
      'webhook-timestamp': got.headers['webhook-timestamp'],
      'webhook-signature': got.headers['webhook-signature'],
    };
    const cases = [
      ['genuine', w.secret, got.body, true],
      ['altered body', w.secret, Buffer.concat([got.body, Buffer.from(' ')]), false],
      ['another secret', 'whsec_' + Buffer.alloc(24, 7).toString('base64'), got.body, false],
    ];
    for (const [what, secret, body, ok] of cases) {
      const input = join(work, 'case.json');
      writeFileSync(input, JSON.stringify({ secret, headers, body: body.toString('base64') }));
      writeFileSync(join(work, 'body.bin'), body);

      writeFileSync(join(work, 'verify-webhook.cjs'), pick('Node'));
      writeFileSync(join(work, 'run.cjs'), `const { verifyWebhook } = require('./verify-webhook.cjs');
const c = require(process.argv[2]);
try { verifyWebhook(c.secret, c.headers, Buffer.from(c.body, 'base64')); console.log('OK'); }
catch (e) { console.log('REJECTED', e.message); }`);
      const node = execFileSync('node', [join(work, 'run.cjs'), input]).toString();
      assert.equal(node.startsWith('OK'), ok, `Node, ${what}: ${node}`);

      writeFileSync(join(work, 'verify_webhook.py'), pick('Python'));
      writeFileSync(join(work, 'run.py'), `import base64, json, sys
sys.path.insert(0, ${JSON.stringify(work)})
from verify_webhook import verify_webhook
c = json.load(open(sys.argv[1]))
try:
    verify_webhook(c["secret"], c["headers"], base64.b64decode(c["body"]))
    print("OK")
except ValueError as e:
    print("REJECTED", e)
`);
      const py = execFileSync('python3', [join(work, 'run.py'), input]).toString();
      assert.equal(py.startsWith('OK'), ok, `Python, ${what}: ${py}`);

      // Go: the snippet as a package of a small module, standard library only.
      if (goExe === undefined) goExe = buildGo(work, pick('Go'));
      if (goExe) {
        const out = execFileSync(goExe, [input], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
        assert.equal(out.startsWith('OK'), ok, `Go, ${what}: ${out}`);
      } else {
        t.diagnostic('Go snippet not run: no go command (apt-get install golang-go)');
      }

      // C: the snippet against the library this build made (beside the binary).
      const libdir = dirname(resolve(BINARY));
      if (existsSync(join(libdir, 'libairhook-verify.so'))) {
        writeFileSync(join(work, 'verify_webhook.c'), pick('C'));
        writeFileSync(join(work, 'main.c'), `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int verify_webhook(const char *, const char *, const char *, const char *, const void *, size_t);
int main(int argc, char **argv)
{
    FILE *f = fopen(argv[5], "rb");
    static char body[1 << 20];
    size_t n = f ? fread(body, 1, sizeof body, f) : 0;
    if (f) fclose(f);
    puts(verify_webhook(argv[1], argv[2], argv[3], argv[4], body, n) ? "OK" : "REJECTED");
    (void)argc;
    return 0;
}
`);
        const exe = join(work, 'verify');
        const cc = ['-I', join(ROOT, 'include'), join(work, 'verify_webhook.c'), join(work, 'main.c'), '-o', exe,
          '-L', libdir, '-lairhook-verify', `-Wl,-rpath,${libdir}`];
        try {
          execFileSync('cc', cc, { stdio: 'pipe' });
        } catch (e) { // a sanitizer build's library needs the sanitizer runtime
          execFileSync('clang', ['-fsanitize=address,undefined', ...cc], { stdio: 'pipe' });
        }
        const out = execFileSync(exe, [secret, headers['webhook-id'], headers['webhook-timestamp'],
          headers['webhook-signature'], join(work, 'body.bin')], { env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' }, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
        assert.equal(out.startsWith('OK'), ok, `C, ${what}: ${out}`);
      } else {
        t.diagnostic(`C snippet not run: no libairhook-verify.so beside ${BINARY}`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

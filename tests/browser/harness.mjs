// SPDX-License-Identifier: MIT
// What every browser test file (tests/browser/*.test.mjs) needs, once: an
// airhook of its own (SQLite in a temporary directory, port 0), optionally a
// receiver on 127.0.0.1, Debian's chromium, pages that record what must never
// happen, sign-in and screenshot helpers.  harness() registers the before and
// after hooks of the file that calls it; after stops what before started (by
// PID: the browser, the airhook) and removes the directory.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const BINARY = process.env.AIRHOOK_BINARY;
export const SHOTS = process.env.SCREENSHOT_DIR;
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

// Calls check until it returns something truthy (which it returns), by a deadline.
export async function until(what, check, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// A screenshot of what the window shows (docs/console/ holds the current ones):
// from the top of the page, not where the last click scrolled, unless top is
// false; fullPage for the whole page.
export async function shot(page, name, { top = true, fullPage = false } = {}) {
  if (!SHOTS) return;
  if (top) await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, `${name}.png`), ...(fullPage ? { fullPage } : {}) });
}

// The same page as shot() shows it, then on a phone (name-phone), then back on the desktop.
export async function shotAndPhone(page, name, options) {
  await shot(page, name, options);
  await page.setViewportSize(PHONE);
  await shot(page, `${name}-phone`, options);
  await page.setViewportSize(DESKTOP);
}

// The child's exit, or at once when it has already exited.
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', r));
}

// Stops the airhook by its PID: SIGTERM, then SIGKILL if it is still there after 10 s.
async function stop(child) {
  if (child.pid === undefined) return; // it never started (the 'error' event said why)
  const gone = exited(child);
  child.kill('SIGTERM');
  let timer;
  const late = new Promise((r) => { timer = setTimeout(r, 10000, 'late'); });
  if (await Promise.race([gone, late]) === 'late') {
    process.stderr.write(`airhook (pid ${child.pid}) did not stop on SIGTERM in 10 s: killed\n`);
    child.kill('SIGKILL');
    await gone;
  }
  clearTimeout(timer);
}

// The file's airhook, receiver and browser.  options:
//   admin     the admin token;
//   flags     more `airhook serve` flags (--auth-fail-limit, --allow-private-targets, ...);
//   prefix    of the temporary directory's name;
//   receiver  (req, res, body): a receiver on 127.0.0.1 calls it once the
//             request's body (a Buffer) is in (its base URL in h.rbase once
//             before() ran).
// Returns h: h.base (once before() ran), h.admin and the helpers below.
// Read h.base and h.rbase in the tests, not in another before(): node 20 runs
// a file's top-level before hooks without waiting for one another.
export function harness({ admin, flags = [], prefix = 'airhook-browser-', receiver } = {}) {
  const h = { admin, base: undefined, rbase: undefined, browser: undefined };
  let server, dir, rserver;

  before(async () => {
    if (receiver) {
      rserver = createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => receiver(req, res, Buffer.concat(chunks)));
      });
      await new Promise((r) => rserver.listen(0, '127.0.0.1', r));
      h.rbase = `http://127.0.0.1:${rserver.address().port}`;
    }
    dir = mkdtempSync(join(tmpdir(), prefix));
    server = spawn(BINARY, ['serve', '--db', `sqlite:${dir}/a.db`, '--listen', '127.0.0.1:0',
      '--admin-token', admin, '--log-level', 'warn', ...flags],
    { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    h.base = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('airhook did not get ready in 20 s')), 20000);
      server.stdout.on('data', (d) => {
        out += d;
        const m = /ready on (http:\/\/\S+)/.exec(out);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
      server.on('exit', (code) => { clearTimeout(timer); reject(new Error(`airhook exited (${code}): ${out}`)); });
      server.on('error', (e) => { clearTimeout(timer); reject(new Error(`airhook did not start: ${e.message}`)); });
    });
    h.browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
  });

  after(async () => {
    if (h.browser) await h.browser.close();
    if (server) await stop(server);
    if (rserver) await new Promise((r) => rserver.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // A JSON request to the airhook; the answer's status and JSON body (null if none).
  h.call = async (method, path, body, headers) => {
    const res = await fetch(h.base + path, {
      method, headers: { 'Content-Type': 'application/json', ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  };
  h.adminApi = (method, path, body) => h.call(method, '/admin/v1' + path, body, { Authorization: `Bearer ${admin}` });

  // Registers a webhook for trigger.airmeet.created as the integrator with
  // key ({ accessKey, secretKey }) over the public API; its payload (id, secret).
  h.registerWebhook = async (key, name, url) => {
    const r = await fetch(`${h.base}/prod/platform-integration/v1/webhook-register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'x-access-key': key.accessKey, 'x-secret-key': key.secretKey },
      body: JSON.stringify({ name, url, triggerMetaInfoId: 'trigger.airmeet.created', platformName: 'test' }),
    });
    assert.equal(r.status, 200);
    return (await r.json()).payload;
  };

  // A fresh browser context whose pages (the first one returned) record what
  // must never happen in problems: an uncaught error, a console.error (not
  // Chromium's "Failed to load resource" for the 4xx answers the flows
  // expect), a Content-Security-Policy violation (csp), an alert() (alerts),
  // a 5xx answer not from ignore5xx(url) and a native dialog (responses).
  // who prefixes each problem; problems may be shared by several contexts.
  h.watchedPage = async ({ viewport = DESKTOP, problems = [], who = '', csp = true, alerts = true,
    responses = true, ignore5xx = () => false } = {}) => {
    const context = await h.browser.newContext({ viewport });
    const by = who ? `${who}: ` : '';
    if (csp || alerts) {
      await context.addInitScript(({ csp, alerts }) => {
        if (csp) {
          document.addEventListener('securitypolicyviolation', (e) => {
            console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
          });
        }
        if (alerts) window.alert = (m) => console.error(`alert() called: ${m}`);
      }, { csp, alerts });
    }
    context.on('page', (page) => {
      page.on('pageerror', (e) => problems.push(`${by}page error: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`${by}console.error: ${m.text()}`);
      });
      if (!responses) return;
      page.on('response', (r) => { if (r.status() >= 500 && !ignore5xx(r.url())) problems.push(`${by}${r.status()} from ${r.url()}`); });
      page.on('dialog', (d) => { problems.push(`${by}dialog: ${d.message()}`); d.dismiss(); });
    });
    const page = await context.newPage();
    return { context, page, problems };
  };

  // Signs in with the admin token (or another) on the sign-in page reached from `from`.
  h.signInOperator = async (page, { token = admin, from = '/' } = {}) => {
    await page.goto(h.base + from);
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  // Signs in with a key pair ({ accessKey, secretKey }) and waits for the Triggers page.
  h.signInIntegrator = async (page, key, from = '/ui/') => {
    await page.goto(h.base + from);
    await page.getByLabel('an integrator with a key pair').check();
    await page.getByLabel('Access key').fill(key.accessKey);
    await page.getByLabel('Secret key').fill(key.secretKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Triggers' }).waitFor();
  };

  return h;
}

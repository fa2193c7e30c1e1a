// SPDX-License-Identifier: MIT
// The Live page in Debian's chromium (tests/browser/run.sh): an event
// published through the admin API shows up as an attempt within 2 s, the
// pause button holds rows back, the filter hides what does not match, and
// leaving the page closes its stream.  Its own airhook (loopback receivers
// allowed) and a receiver answering 200.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, shot, PHONE } from './harness.mjs';

const ADMIN = 'browser-live-admin-token';
const h = harness({
  admin: ADMIN, prefix: 'airhook-browser-live-', flags: ['--allow-net', '127.0.0.0/8'],
  receiver: (req, res) => { res.writeHead(200); res.end('ok'); },
});
const { call, adminApi } = h;

// A community with a key pair and a webhook to the receiver.
async function community(name) {
  const c = await adminApi('POST', '/communities', { name });
  assert.equal(c.status, 201);
  const k = await adminApi('POST', `/communities/${c.body.id}/access-keys`, { label: `${name} key` });
  assert.equal(k.status, 201);
  const keys = { 'x-access-key': k.body.accessKey, 'x-secret-key': k.body.secretKey };
  const w = await call('POST', '/prod/platform-integration/v1/webhook-register', {
    name: `${name} hook`, description: 'live page test', triggerMetaInfoId: 'trigger.airmeet.created',
    url: `${h.rbase}/hook?c=${encodeURIComponent(name)}`, platformName: 'browser-test',
  }, keys);
  assert.equal(w.status, 200, JSON.stringify(w.body));
  return { id: c.body.id, webhookId: w.body.payload.id, accessKey: k.body.accessKey, secretKey: k.body.secretKey };
}

async function publish(c) {
  const r = await adminApi('POST', '/events', { communityId: c.id, triggerMetaInfoId: 'trigger.airmeet.created', data: { n: 1 } });
  assert.equal(r.status, 202);
  return r.body.eventId;
}

test('a published event shows up on the Live page within 2 s; pause, filter, leave', async () => {
  const { context, page, problems } = await h.watchedPage({ alerts: false, responses: false });
  const streams = [];
  page.on('request', (r) => { if (r.url().endsWith('/admin/v1/live')) streams.push(r); });

  const a = await community('Live A <img src=x onerror=alert(1)>');
  const b = await community('Live B');
  await h.signInOperator(page);
  await page.getByRole('link', { name: 'Live', exact: true }).click();
  await page.getByRole('heading', { name: 'Live', exact: true }).waitFor();
  await page.getByText('Connected: showing events as they come.').waitFor({ timeout: 5000 });

  const t0 = Date.now();
  await publish(a);
  const row = page.locator('tbody tr', { hasText: a.webhookId });
  await row.first().waitFor({ timeout: 2000 });
  assert.ok(Date.now() - t0 <= 2000, `the attempt took ${Date.now() - t0} ms to show`);
  assert.match(await row.first().textContent(), /succeeded/);
  assert.match(await row.first().textContent(), /HTTP 200/);
  await publish(b);
  await page.locator('tbody tr', { hasText: b.webhookId }).first().waitFor({ timeout: 2000 });
  // A state change is a row too.
  assert.equal((await adminApi('POST', `/webhooks/${a.webhookId}/disable`)).status, 200);
  await page.locator('tbody tr', { hasText: 'disabled by operator' }).first().waitFor({ timeout: 2000 });
  assert.equal((await adminApi('POST', `/webhooks/${a.webhookId}/enable`)).status, 200);
  await page.locator('tbody tr', { hasText: 'enabled by operator' }).first().waitFor({ timeout: 2000 });
  await shot(page, 'live', { top: false });

  // The filter: only b's webhook.
  await page.getByLabel('Webhook id').fill(b.webhookId);
  assert.equal(await page.locator('tbody tr:visible', { hasText: a.webhookId }).count(), 0);
  assert.ok(await page.locator('tbody tr:visible', { hasText: b.webhookId }).count() >= 1);
  await page.getByLabel('Webhook id').fill('');

  // Paused: what comes is held back and counted.
  const rowsBefore = await page.locator('tbody tr').count();
  await page.getByRole('button', { name: 'Pause' }).click();
  await publish(b);
  await page.getByRole('button', { name: /Resume \(1 waiting/ }).waitFor({ timeout: 2000 });
  assert.equal(await page.locator('tbody tr').count(), rowsBefore);
  await page.getByRole('button', { name: /Resume/ }).click();
  await page.getByText(/1 events arrived while paused/).waitFor();

  // Leaving the page closes the stream (the server sees the connection end).
  assert.equal(streams.length, 1);
  const ended = page.waitForEvent('requestfailed', { predicate: (r) => r.url().endsWith('/admin/v1/live'), timeout: 3000 })
    .catch(() => page.waitForEvent('requestfinished', { predicate: (r) => r.url().endsWith('/admin/v1/live'), timeout: 1000 }));
  await page.getByRole('link', { name: 'Communities' }).click();
  await page.getByRole('heading', { name: 'Communities' }).waitFor();
  await ended;
  assert.deepEqual(problems, []);
  await context.close();
});

test("an integrator's Live page shows their community's attempts, never another's", async () => {
  const { context, page, problems } = await h.watchedPage({ viewport: PHONE, csp: false, alerts: false, responses: false });
  const a = await community('Live C');
  const b = await community('Live D');
  await h.signInIntegrator(page, a, '/');
  await page.getByRole('navigation').getByRole('link', { name: 'Live', exact: true }).click();
  await page.getByText('Connected: showing events as they come.').waitFor({ timeout: 5000 });
  const eb = await publish(b);
  // b's delivery is recorded (its attempt is in the node's ring), then a's event:
  // the stream is in order, so once a's row shows, b's would have shown before it.
  for (let i = 0; ; i++) {
    const r = await adminApi('GET', `/events/${eb}/deliveries`);
    const d = r.body && r.body.deliveries && r.body.deliveries[0];
    if (d && d.status === 'succeeded') break;
    assert.ok(i < 100, `b's delivery did not succeed: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  await publish(a);
  await page.locator('tbody tr', { hasText: a.webhookId }).first().waitFor({ timeout: 2000 });
  assert.equal(await page.locator('tbody tr', { hasText: b.webhookId }).count(), 0);
  await shot(page, 'live-phone', { top: false });
  assert.deepEqual(problems, []);
  await context.close();
});
